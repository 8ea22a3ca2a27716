import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { Command, Option } from 'commander';
import { CliError, EXIT } from '../errors.js';
import { renderData } from '../output.js';
import { configSkeleton, systemdUnit } from '../service-unit.js';

interface InstallOptions {
  user: string;
  dataDir: string;
  config: string;
  unit: string;
  root?: string;
  output: 'text' | 'json' | 'yaml';
}

/** `metalbox install-service`: the systemd unit, its user, its data dir and a config skeleton, as an operator installs a daemon. */
export function installServiceCommand(): Command {
  return new Command('install-service')
    .description('install metalbox as a systemd service: a system user, its data dir, a config skeleton and the unit (root)')
    .addOption(new Option('--user <name>', 'the system user serve runs as').default('metalbox'))
    .addOption(new Option('--data-dir <dir>', 'the data dir of the service').default('/var/lib/metalbox'))
    .addOption(new Option('--config <file>', 'the config file (written only when absent)').default('/etc/metalbox/metalbox.yaml'))
    .addOption(new Option('--unit <file>', 'the unit file').default('/etc/systemd/system/metalbox.service'))
    .addOption(new Option('--root <dir>', 'write every file under this directory and create no user (images, packages, tests)'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'yaml']).default('text'))
    .action((options: InstallOptions) => {
      for (const [flag, path] of [
        ['--data-dir', options.dataDir],
        ['--config', options.config],
        ['--unit', options.unit],
      ] as const)
        if (!isAbsolute(path)) throw new CliError(EXIT.usage, `${flag} ${path}: an absolute path, please (the unit names it)`);
      if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(options.user)) throw new CliError(EXIT.usage, `--user ${options.user}: not a valid user name`);
      if (options.root === undefined && process.getuid?.() !== 0)
        throw new CliError(EXIT.usage, 'install-service writes /etc and creates a user: run it as root (or with --root DIR)');
      const under = (path: string) => (options.root === undefined ? path : join(options.root, path));

      const userCreated = options.root === undefined && ensureUser(options.user, options.dataDir);
      const owner = options.root === undefined ? idsOf(options.user) : null;
      mkdirSync(under(options.dataDir), { recursive: true, mode: 0o700 });
      if (owner) chownSync(under(options.dataDir), owner.uid, owner.gid);

      const configPath = under(options.config);
      const configWritten = !existsSync(configPath);
      if (configWritten) {
        mkdirSync(dirname(configPath), { recursive: true });
        // Readable by the service's group only: it may come to name password files and profiles.
        writeFileSync(configPath, configSkeleton({ dataDir: options.dataDir }), { mode: 0o640 });
        if (owner) chownSync(configPath, 0, owner.gid);
      }
      const unit = systemdUnit({
        node: process.execPath,
        cli: realpathSync(process.argv[1]!),
        user: options.user,
        dataDir: options.dataDir,
        configFile: options.config,
      });
      mkdirSync(dirname(under(options.unit)), { recursive: true });
      writeFileSync(under(options.unit), unit, { mode: 0o644 });

      const result = {
        unit: under(options.unit),
        config: configPath,
        configWritten,
        dataDir: under(options.dataDir),
        user: options.user,
        userCreated,
      };
      if (options.output !== 'text') {
        process.stdout.write(renderData(result, options.output));
        return;
      }
      process.stdout.write(
        [
          `Wrote ${result.unit}${userCreated ? `; created system user ${options.user}` : ''}.`,
          configWritten ? `Wrote ${configPath}: set advertise (and assetsDir) there.` : `Kept ${configPath} as it was.`,
          'Then:',
          '  systemctl daemon-reload && systemctl enable --now metalbox',
          '  journalctl -u metalbox -f',
          `  metalbox ls   (as root, or with METALBOX_TOKEN from ${join(options.dataDir, 'api-token')})`,
          '',
        ].join('\n'),
      );
    });
}

/** Creates the system user (its group too, no home, no shell) unless it exists; whether it did. */
function ensureUser(user: string, home: string): boolean {
  if (idsOf(user) !== null) return false;
  const created = spawnSync(
    'useradd',
    ['--system', '--user-group', '--home-dir', home, '--no-create-home', '--shell', '/usr/sbin/nologin', user],
    {
      encoding: 'utf8',
    },
  );
  if (created.status !== 0)
    throw new CliError(EXIT.failed, `useradd ${user} failed: ${(created.stderr || created.error?.message || '').trim()}`);
  return true;
}

function idsOf(user: string): { uid: number; gid: number } | null {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
