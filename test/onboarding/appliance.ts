import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { JobJson, MachineEventJson, MachineJson } from '../../src/store/index.js';
import { waitFor } from '../../lab/kit.js';
import { runCli, startServe, tempDir, type CliResult, type Serving } from '../helpers.js';

/** Settings that keep failure tests short: one quick retry, short Redfish deadlines. */
export const QUICK_FAILURES = {
  METALBOX_ONBOARDING_ATTEMPTS: '2',
  METALBOX_ONBOARDING_BACKOFF_MS: '50',
  METALBOX_REDFISH_CONNECT_TIMEOUT_MS: '2000',
  METALBOX_REDFISH_REQUEST_TIMEOUT_MS: '3000',
};

export interface Appliance {
  serving: Serving;
  dir: string;
  dataDir: string;
  /** The CLI, pointed at this appliance with its token. */
  cli: (args: string[], env?: Record<string, string>) => Promise<CliResult>;
  machines: () => Promise<MachineJson[]>;
  events: (machineId: string) => Promise<MachineEventJson[]>;
  job: (id: number) => Promise<JobJson | null>;
  /** A file holding `password`, the mockup BMCs' password. */
  passwordFile: string;
  /** `onboard <mac>` of a mockup BMC on loopback over plain HTTP, as admin with passwordFile; more flags after. */
  onboardArgs: (mac: string, port: number) => string[];
}

/**
 * `metalbox serve` on loopback with an optional config file; without ProxyDHCP and TFTP
 * unless `netboot` (then on ephemeral ports: a test claims a machine's address with claimAddress).
 */
export async function startAppliance(
  t: { after(fn: () => unknown): void },
  config: Record<string, unknown> = {},
  env: Record<string, string> = {},
  options: { netboot?: boolean; prepare?: (dataDir: string) => void } = {},
): Promise<Appliance> {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  options.prepare?.(dataDir);
  const configFile = join(dir, 'metalbox.yaml');
  writeFileSync(configFile, YAML.stringify(config));
  const passwordFile = join(dir, 'bmc-password');
  writeFileSync(passwordFile, 'password\n');
  const serving = await startServe(
    t,
    ['--data-dir', dataDir, '--config', configFile, ...(options.netboot ? [] : ['--no-dhcp-proxy', '--no-tftp'])],
    env,
  );
  const get = async <T>(path: string): Promise<T | null> => {
    const response = await serving.fetch(path);
    return response.status === 404 ? null : ((await response.json()) as T);
  };
  return {
    serving,
    dir,
    dataDir,
    passwordFile,
    onboardArgs: (mac, port) => [
      'onboard',
      mac,
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--scheme',
      'http',
      '--username',
      'admin',
      '--password-file',
      passwordFile,
    ],
    cli: (args, extra = {}) => runCli(args, { METALBOX_SERVER: serving.url, METALBOX_DATA_DIR: dataDir, ...extra }),
    machines: async () => (await get<MachineJson[]>('/api/v1/machines'))!,
    events: async (machineId) => (await get<MachineEventJson[]>(`/api/v1/machines/${machineId}/events?limit=1000`))!,
    job: (id) => get<JobJson>(`/api/v1/onboardings/${id}`),
  };
}

/** The state changes of a timeline, `from→to`. */
export function transitions(events: MachineEventJson[]): string[] {
  return events.filter((event) => event.fromState !== event.toState).map((event) => `${event.fromState ?? '-'}→${event.toState}`);
}

/** The job once it has ended (succeeded or failed), read through the API. */
export function jobDone(app: Appliance, id: number): Promise<JobJson> {
  return waitFor(
    `job ${id}`,
    async () => {
      const job = (await (await app.serving.fetch(`/api/v1/jobs/${id}`)).json()) as JobJson;
      return job.status === 'succeeded' || job.status === 'failed' ? job : undefined;
    },
    20_000,
  );
}
