import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { MetalboxError } from '../../src/lib/errors.js';
import { tempDir } from '../helpers.js';

const configError = (pattern: RegExp) => (error: unknown) =>
  error instanceof MetalboxError && error.code === 'E_CONFIG' && pattern.test(error.message);

test('defaults apply when nothing is given', () => {
  const config = loadConfig({ env: { XDG_DATA_HOME: '/srv/xdg' } });
  assert.equal(config.listen, '0.0.0.0');
  assert.equal(config.http.port, 8080);
  assert.equal(config.log.level, 'info');
  assert.equal(config.dataDir, process.getuid?.() === 0 ? '/var/lib/metalbox' : '/srv/xdg/metalbox');
});

test('precedence: flags > env > config file > defaults, setting by setting', (t) => {
  const file = join(tempDir(t), 'metalbox.yaml');
  writeFileSync(
    file,
    [
      'dataDir: /from/file',
      'listen: 192.0.2.1',
      'http:',
      '  port: 8001',
      'log:',
      '  level: warn',
      'boot:',
      '  unknown: discover',
      '  discoveryProfile: from-file',
      'profiles:',
      '  rescue:',
      '    kernel: rescue/vmlinuz',
      '    initrd: [rescue/initrd.img]',
      '    cmdline: "console=ttyS0 mac={{ mac }}"',
      '',
    ].join('\n'),
  );
  const env = {
    METALBOX_HTTP_PORT: '8002',
    METALBOX_LISTEN: '192.0.2.2',
    METALBOX_UEFI_BINARY: 'ipxe.efi',
    METALBOX_DHCP_PROXY: 'true',
    METALBOX_LOCAL_BOOT: '404',
  };
  const config = loadConfig({
    configFile: file,
    env,
    flags: { 'http.port': '8003', 'dhcp.proxy': 'false', 'boot.discoveryProfile': 'from-flag' },
  });
  assert.deepEqual(config, {
    dataDir: '/from/file', // file only
    listen: '192.0.2.2', // env beats file
    advertise: undefined, // nowhere
    http: { port: 8003, fileCacheMiB: 256, fileThreads: 0 }, // port: flag beats env and file
    api: { maxEventStreams: 100 },
    dhcp: { proxy: false, port: 67, pxePort: 4011 }, // proxy: flag --no-dhcp-proxy
    tftp: { enabled: true, port: 69, maxBlksize: 1468, maxTransfers: 4096, threads: 0 }, // defaults
    ipxeDir: undefined,
    netboot: { uefiBinary: 'ipxe.efi', loader: 'ipxe' }, // env; default
    assetsDir: undefined,
    boot: { unknown: 'discover', discoveryProfile: 'from-flag', maxDiscovered: 1000, localBoot: '404', addressTrust: 'dhcp' }, // file, flag, env, default
    profiles: { rescue: { kernel: 'rescue/vmlinuz', initrd: ['rescue/initrd.img'], cmdline: 'console=ttyS0 mac={{ mac }}' } }, // file only
    serverTypes: [],
    agent: { lldpSeconds: 30 },
    bmc: { subnets: [], sweepRate: 200, credentials: [] }, // defaults
    snooping: { maxObservations: 50000, maxAgeDays: 30, writesPerSecond: 1000 },
    discovery: { leaseFiles: [] },
    unifi: undefined,
    onboarding: { concurrency: 100, attempts: 5, backoffMs: 5000 },
    provisioning: {
      timeouts: {
        preparing: 600,
        netbooting: 900,
        installing: 3600,
        deprovisioning: 600,
        deploying: 3600,
        booting: 1800,
        cleaning: 3600,
        inspecting: 1800,
      },
      powerPollMs: 2000,
    },
    redfish: { maxInFlight: 32, connectTimeoutMs: 15000, requestTimeoutMs: 60000 },
    log: { level: 'warn' }, // file beats default
  });
});

test('METALBOX_CONFIG names the file when --config is absent; JSON files work too', (t) => {
  const file = join(tempDir(t), 'metalbox.json');
  writeFileSync(file, JSON.stringify({ http: { port: 9090 } }));
  assert.equal(loadConfig({ env: { METALBOX_CONFIG: file } }).http.port, 9090);
});

test('an empty config file is no config', (t) => {
  const file = join(tempDir(t), 'empty.yaml');
  writeFileSync(file, '# nothing yet\n');
  assert.equal(loadConfig({ configFile: file, env: {} }).http.port, 8080);
});

test('bad config files are refused with the file, the key and the reason', async (t) => {
  const dir = tempDir(t);
  const cases: Array<[string, string, RegExp]> = [
    ['unknown-top.yaml', 'datadir: /x\n', /unknown-top\.yaml: unknown key datadir/],
    ['unknown-nested.yaml', 'http:\n  prot: 80\n', /unknown key http\.prot/],
    ['wrong-type.yaml', 'http:\n  port: "8080"\n', /http\.port must be of type integer/],
    ['out-of-range.yaml', 'http:\n  port: 70000\n', /http\.port must be <= 65535/],
    ['not-a-mapping.yaml', 'http: 8080\n', /http must be a mapping/],
    ['bad-enum.yaml', 'log:\n  level: loud\n', /log\.level must be one of fatal, error, warn, info, debug, trace, silent/],
    ['bad-ip.yaml', 'listen: 10.0.0.300\n', /listen must be an IP address/],
    ['profile-key.yaml', 'profiles:\n  p:\n    kernal: x\n', /unknown key profiles\.p\.kernal/],
    ['profile-name.yaml', 'profiles:\n  "../x":\n    kernel: x\n', /profiles key "\.\.\/x" must be 1-63 letters/],
    ['profile-initrd.yaml', 'profiles:\n  p:\n    initrd: 5\n', /profiles\.p\.initrd must be a string or a list of strings$/],
    ['list.yaml', '- a\n- b\n', /must be a mapping/],
    ['syntax.yaml', 'http: {port: 80\n', /not valid YAML or JSON/],
    ['duplicate.yaml', 'listen: 192.0.2.1\nlisten: 192.0.2.2\n', /not valid YAML or JSON/],
  ];
  for (const [name, text, pattern] of cases) {
    await t.test(name, () => {
      const file = join(dir, name);
      writeFileSync(file, text);
      assert.throws(() => loadConfig({ configFile: file, env: {} }), configError(pattern), name);
    });
  }
  assert.throws(
    () => loadConfig({ configFile: join(dir, 'missing.yaml'), env: {} }),
    configError(/missing\.yaml: cannot read it \(ENOENT\)/),
  );
});

test('bad env values and flags are refused naming their source', () => {
  assert.throws(
    () => loadConfig({ env: { METALBOX_HTTP_PORT: 'eighty' } }),
    configError(/environment METALBOX_HTTP_PORT=eighty: http\.port must be of type integer/),
  );
  assert.throws(() => loadConfig({ env: {}, flags: { 'http.port': '-1' } }), configError(/flag --http-port -1: http\.port must be >= 0/));
  assert.throws(
    () => loadConfig({ env: {}, flags: { listen: 'localhost' } }),
    configError(/flag --listen localhost: listen must be an IP address/),
  );
  assert.throws(
    () => loadConfig({ env: { METALBOX_LOG_LEVEL: 'chatty' } }),
    configError(/METALBOX_LOG_LEVEL=chatty: log\.level must be one of/),
  );
});
