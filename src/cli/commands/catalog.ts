import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { ProfileView, ServerTypeView, TypeCheck } from '../../profiles/catalog.js';
import { CliError, EXIT } from '../errors.js';
import { orDash, renderData, renderTable, yaml } from '../output.js';
import { clientCommand, outputOption, withClient } from './shared.js';

/** `metalbox profiles ls|show|apply -f FILE`. */
export function profilesCommand(): Command {
  const profiles = new Command('profiles').description('boot profiles: a kernel, initrds and a cmdline, or an iPXE script template');
  profiles.addCommand(
    clientCommand('ls', 'every profile in force, and where it comes from')
      .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
      .action(async (options: { server?: string; output: 'table' | 'json' | 'yaml' }) => {
        await withClient(options, async (client) => {
          const views = await client.get<ProfileView[]>('/api/v1/profiles');
          process.stdout.write(
            options.output === 'table'
              ? renderTable(views, [
                  { header: 'NAME', value: (view) => view.name },
                  { header: 'SOURCE', value: (view) => view.source },
                  { header: 'BOOTS', value: (view) => (view.spec.script !== undefined ? 'iPXE script' : orDash(view.spec.kernel)) },
                ])
              : renderData(views, options.output),
          );
        });
      }),
  );
  profiles.addCommand(
    clientCommand('show', 'one profile as given')
      .argument('<name>')
      .addOption(outputOption(['yaml', 'json'], 'yaml'))
      .action(async (name: string, options: { server?: string; output: 'json' | 'yaml' }) => {
        await withClient(options, async (client) => {
          process.stdout.write(renderData(await client.get<ProfileView>(`/api/v1/profiles/${encodeURIComponent(name)}`), options.output));
        });
      }),
  );
  profiles.addCommand(
    clientCommand(
      'apply',
      'add or replace the profiles of a file (YAML or JSON, a `profiles:` map as in the config file); checked whole first',
    )
      .requiredOption('-f, --file <file>', 'the file')
      .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
      .action(async (options: { server?: string; file: string; output: 'text' | 'json' | 'yaml' }) => {
        const body = readSpecFile(options.file, 'profiles');
        await withClient(options, async (client) => {
          const { body: result } = await client.post<{ applied: string[]; warnings: string[] }>('/api/v1/profiles', body);
          for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
          if (options.output !== 'text') process.stdout.write(renderData(result, options.output));
          else process.stdout.write(`Applied profile${result.applied.length === 1 ? '' : 's'} ${result.applied.join(', ')}.\n`);
        });
      }),
  );
  profiles.addCommand(deleteEntry('profile', 'profiles'));
  return profiles;
}

/** `profiles delete <name>` and `types delete <name>`: what the API applied goes; the config file's of that name is in force again. */
function deleteEntry(what: 'profile' | 'server type', path: 'profiles' | 'server-types'): Command {
  return clientCommand('delete', `delete a ${what} applied through the API (the config file's of that name, if any, is in force again)`)
    .argument('<name>')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (name: string, options: { server?: string; output: 'text' | 'json' | 'yaml' }) => {
      await withClient(options, async (client) => {
        const result = await client.delete<{ deleted: string; restored: 'config' | null }>(`/api/v1/${path}/${encodeURIComponent(name)}`);
        process.stdout.write(
          options.output !== 'text'
            ? renderData(result, options.output)
            : `Deleted ${what} ${result.deleted}${result.restored ? "; the config file's is in force again" : ''}.\n`,
        );
      });
    });
}

/** `metalbox types ls|show|apply -f FILE|check`. */
export function typesCommand(): Command {
  const types = new Command('types').description('server types: matchers over hardware facts, and the profile their machines install');
  types.addCommand(
    clientCommand('ls', 'every server type in force, and where it comes from')
      .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
      .action(async (options: { server?: string; output: 'table' | 'json' | 'yaml' }) => {
        await withClient(options, async (client) => {
          const views = await client.get<ServerTypeView[]>('/api/v1/server-types');
          process.stdout.write(
            options.output === 'table'
              ? renderTable(views, [
                  { header: 'NAME', value: (view) => view.name },
                  { header: 'SOURCE', value: (view) => view.source },
                  { header: 'PROFILE', value: (view) => orDash(view.spec.profile) },
                  {
                    header: 'MATCH',
                    value: (view) =>
                      Object.entries(view.spec.match)
                        .map(([fact, value]) => `${fact}=${value}`)
                        .join(' '),
                  },
                ])
              : renderData(views, options.output),
          );
        });
      }),
  );
  types.addCommand(
    clientCommand('show', 'one server type as given')
      .argument('<name>')
      .addOption(outputOption(['yaml', 'json'], 'yaml'))
      .action(async (name: string, options: { server?: string; output: 'json' | 'yaml' }) => {
        await withClient(options, async (client) => {
          process.stdout.write(
            renderData(await client.get<ServerTypeView>(`/api/v1/server-types/${encodeURIComponent(name)}`), options.output),
          );
        });
      }),
  );
  types.addCommand(
    clientCommand(
      'apply',
      'add or replace the server types of a file (YAML or JSON, a `serverTypes:` list as in the config file); checked whole first',
    )
      .requiredOption('-f, --file <file>', 'the file')
      .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
      .action(async (options: { server?: string; file: string; output: 'text' | 'json' | 'yaml' }) => {
        const body = readSpecFile(options.file, 'serverTypes');
        await withClient(options, async (client) => {
          const { body: result } = await client.post<{ applied: string[] }>('/api/v1/server-types', body);
          process.stdout.write(
            options.output !== 'text'
              ? renderData(result, options.output)
              : `Applied server type${result.applied.length === 1 ? '' : 's'} ${result.applied.join(', ')}; machines take them when onboarded again.\n`,
          );
        });
      }),
  );
  types.addCommand(
    clientCommand('check', 'classify the whole inventory with the types in force: ties are errors (exit 1), unmatched machines are listed')
      .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
      .action(async (options: { server?: string; output: 'text' | 'json' | 'yaml' }) => {
        await withClient(options, async (client) => {
          const check = await client.get<TypeCheck>('/api/v1/server-types/check');
          if (options.output !== 'text') process.stdout.write(renderData(check, options.output));
          else {
            const lines = [
              `${check.machines} machine${check.machines === 1 ? '' : 's'}: ${
                Object.entries(check.matched)
                  .map(([type, count]) => `${type} ${count}`)
                  .join(', ') || 'no types'
              }; ${check.unmatched.length} unmatched${check.unmatched.length > 0 ? ` (${check.unmatched.join(', ')})` : ''}.`,
            ];
            for (const tie of check.ties)
              lines.push(`tie: machine ${tie.machineId} matches ${tie.types.join(' and ')} equally: make one more specific`);
            process.stdout.write(`${lines.join('\n')}\n`);
          }
          if (check.ties.length > 0)
            throw new CliError(EXIT.failed, `${check.ties.length} machine${check.ties.length === 1 ? '' : 's'} tie between server types`);
        });
      }),
  );
  types.addCommand(deleteEntry('server type', 'server-types'));
  return types;
}

/** The file's `key:` part, read as YAML (JSON is YAML too); an unreadable or shapeless file is a usage error. */
function readSpecFile(path: string, key: 'profiles' | 'serverTypes'): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = yaml().parse(readFileSync(path, 'utf8'), { uniqueKeys: true, maxAliasCount: 100 });
  } catch (error) {
    throw new CliError(
      EXIT.usage,
      `${path}: ${(error as NodeJS.ErrnoException).code ? `cannot read it (${(error as NodeJS.ErrnoException).code})` : `not YAML or JSON: ${(error as Error).message.split('\n')[0]}`}`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || !(key in parsed))
    throw new CliError(EXIT.usage, `${path}: expected a top-level ${key}: ${key === 'profiles' ? 'map' : 'list'}`);
  return { [key]: (parsed as Record<string, unknown>)[key] };
}
