import { Command, Option } from 'commander';
import { outputOption } from './shared.js';

/** `metalbox agent build`: the agent image, made from Debian packages and cached in the data dir. */
export function agentCommand(): Command {
  const agent = new Command('agent').description('the in-RAM agent that inventories, wipes and deploys machines');
  agent
    .command('build')
    .description("build the agent's kernel and initramfs from Debian packages (apt-get download), or name the cached one")
    .addOption(new Option('--data-dir <dir>', 'the data dir the image is cached in (under agent/)').env('METALBOX_DATA_DIR'))
    .addOption(outputOption(['text', 'json'], 'text'))
    .action(async (options: { dataDir?: string; output: 'text' | 'json' }) => {
      const [{ buildAgentImage, agentCacheDir }, { defaultDataDir }, { prepareDataDir }] = await Promise.all([
        import('../../agent/build.js'),
        import('../../config/settings.js'),
        import('../../store/index.js'),
      ]);
      const dataDir = options.dataDir ?? defaultDataDir();
      prepareDataDir(dataDir);
      const started = Date.now();
      const image = buildAgentImage(agentCacheDir(dataDir), (line) => process.stderr.write(`${line}\n`));
      if (options.output === 'json') {
        process.stdout.write(`${JSON.stringify({ dir: image.dir, built: image.built, ...image.manifest }, null, 2)}\n`);
        return;
      }
      const { manifest } = image;
      const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
      process.stdout.write(
        `${image.built ? 'built' : 'cached'} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${image.dir}\n` +
          `  kernel  ${manifest.kernel.name} ${manifest.kernel.version}, ${mib(manifest.bytes.kernel)} MiB\n` +
          `  initrd  busybox-static ${manifest.busybox.version}, ${manifest.modules.length} modules, ${mib(manifest.bytes.initrd)} MiB\n` +
          `  sha256  ${manifest.sha256.kernel.slice(0, 16)}… ${manifest.sha256.initrd.slice(0, 16)}…\n`,
      );
    });
  return agent;
}
