import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import { MetalboxError } from '../lib/errors.js';
import { SETTINGS, type Config, type Setting } from './settings.js';

export interface ConfigSources {
  /** Flag values as commander gives them, keyed by setting path; undefined = not given. */
  flags?: Record<string, string | undefined>;
  env?: NodeJS.ProcessEnv;
  /** --config or METALBOX_CONFIG. */
  configFile?: string | undefined;
}

const strictAjv = withFormats(new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }));
const coercingAjv = withFormats(new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, coerceTypes: true }));
const validateFile = strictAjv.compile(fileSchema(SETTINGS));

/** The effective config: flags > env METALBOX_* > config file > defaults. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const config: Record<string, unknown> = {};
  for (const setting of SETTINGS) setPath(config, setting.path, setting.default());

  const configFile = sources.configFile ?? nonEmpty(env.METALBOX_CONFIG);
  if (configFile !== undefined) {
    const file = readConfigFile(configFile);
    for (const setting of SETTINGS) {
      const value = getPath(file, setting.path);
      if (value !== undefined) setPath(config, setting.path, value);
    }
  }
  for (const setting of SETTINGS) {
    const text = setting.env === undefined ? undefined : nonEmpty(env[setting.env]);
    if (text !== undefined) setPath(config, setting.path, coerce(setting, text, `environment ${setting.env}=${text}`));
  }
  for (const setting of SETTINGS) {
    const text = sources.flags?.[setting.path];
    if (text !== undefined) setPath(config, setting.path, coerce(setting, text, `flag ${flagName(setting)} ${text}`));
  }
  return config as unknown as Config;
}

/** The effective config as YAML, for `serve --print-config`; passwords show as ********. */
export function renderConfig(config: Config): string {
  return YAML.stringify(config, (key, value) => (key === 'password' && typeof value === 'string' ? '********' : value));
}

export function flagName(setting: Setting): string {
  return setting.flag?.split(' ')[0] ?? setting.path;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new MetalboxError('E_CONFIG', `config file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  let parsed: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both forms.
    parsed = YAML.parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new MetalboxError('E_CONFIG', `config file ${path}: not valid YAML or JSON: ${message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!validateFile(parsed)) {
    throw new MetalboxError('E_CONFIG', `config file ${path}: ${describeErrors(validateFile.errors ?? [])}`);
  }
  return parsed as Record<string, unknown>;
}

function coerce(setting: Setting, text: string, source: string): unknown {
  const validate = coercingAjv.compile({ type: 'object', properties: { value: setting.schema }, required: ['value'] });
  const holder = { value: text };
  if (!validate(holder)) {
    throw new MetalboxError('E_CONFIG', `${source}: ${setting.path} ${describeError(validate.errors![0]!, '')}`);
  }
  return holder.value;
}

function describeErrors(errors: ErrorObject[]): string {
  // anyOf and propertyNames report each failed branch first, then themselves: keep only the summary.
  const summaries = new Set(
    errors.filter((error) => error.keyword === 'anyOf' || error.keyword === 'propertyNames').map((error) => error.instancePath),
  );
  return errors
    .filter((error) => error.keyword === 'anyOf' || error.keyword === 'propertyNames' || !summaries.has(error.instancePath))
    .map((error) => describeError(error, pathOf(error)))
    .join('; ');
}

function describeError(error: ErrorObject, path: string): string {
  const at = path ? `${path} ` : '';
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      return `unknown key ${path ? `${path}.` : ''}${key}`;
    }
    case 'enum':
      return `${at}must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'anyOf':
      return `${at}must be a string or a list of strings`;
    case 'propertyNames':
      return `${at}key ${JSON.stringify((error.params as { propertyName: string }).propertyName)} must be 1-63 letters, digits and ._- starting with a letter or digit`;
    case 'format':
      return `${at}must be an IP address`;
    case 'type':
      return `${at}must be ${error.params.type === 'object' ? 'a mapping' : `of type ${error.params.type}`}`;
    default:
      return `${at}${error.message ?? 'is invalid'}`;
  }
}

function pathOf(error: ErrorObject): string {
  return error.instancePath.split('/').filter(Boolean).join('.');
}

/** The nested JSON schema of the config file, built from the settings' dotted paths. */
function fileSchema(settings: readonly Setting[]): Record<string, unknown> {
  const root = objectSchema();
  for (const setting of settings) {
    const keys = setting.path.split('.');
    let node = root;
    for (const key of keys.slice(0, -1)) {
      node.properties[key] ??= objectSchema();
      node = node.properties[key] as ReturnType<typeof objectSchema>;
    }
    node.properties[keys.at(-1)!] = setting.schema;
  }
  return root;
}

function objectSchema(): { type: 'object'; additionalProperties: false; properties: Record<string, unknown> } {
  return { type: 'object', additionalProperties: false, properties: {} };
}

function withFormats(ajv: Ajv): Ajv {
  return ajv.addFormat('ip', { type: 'string', validate: (text: string) => isIP(text) !== 0 });
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text;
}

function getPath(object: Record<string, unknown>, path: string): unknown {
  let node: unknown = object;
  for (const key of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[key];
  return node;
}

function setPath(object: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = object;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
}
