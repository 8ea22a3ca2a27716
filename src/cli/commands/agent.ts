import { Command, Option } from 'commander';
import { outputOption } from './shared.js';

/** `metalbox agent build`: the agent image, made from Debian packages and cached in the data dir. */
export function agentCommand(): Command {
  const agent = new Command('agent').description('the in-RAM agent that inventories, wipes and deploys machines');
  agent
    .command('build')
    .description("build the agent's kernel and initramfs from Debian packages (apt-get download), or name the cached one")
    .addOption(new Option('--data-dir <dir>', 'the data dir the image is cached in (under agent/)').env('METALBOX_DATA_DIR'))
    .addOption(
      new Option(
        '--arch <arch>',
        "the machines' CPU, in Debian's name: amd64, or arm64 (its packages need dpkg --add-architecture arm64 and apt-get update); serve boots each machine the image of its CPU",
      )
        .choices(['amd64', 'arm64'])
        .default('amd64'),
    )
    .addOption(outputOption(['text', 'json'], 'text'))
    .action(async (options: { dataDir?: string; arch: 'amd64' | 'arm64'; output: 'text' | 'json' }) => {
      const [{ buildAgentImage, agentCacheDir }, { defaultDataDir }, { prepareDataDir }] = await Promise.all([
        import('../../agent/build.js'),
        import('../../config/settings.js'),
        import('../../store/index.js'),
      ]);
      const dataDir = options.dataDir ?? defaultDataDir();
      prepareDataDir(dataDir);
      const started = Date.now();
      const image = buildAgentImage(agentCacheDir(dataDir), (line) => process.stderr.write(`${line}\n`), options.arch);
      if (options.output === 'json') {
        process.stdout.write(`${JSON.stringify({ dir: image.dir, built: image.built, ...image.manifest }, null, 2)}\n`);
        return;
      }
      const { manifest } = image;
      const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
      process.stdout.write(
        `${image.built ? 'built' : 'cached'} (${manifest.arch}) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${image.dir}\n` +
          `  kernel  ${manifest.kernel.name} ${manifest.kernel.version}, ${mib(manifest.bytes.kernel)} MiB\n` +
          `  initrd  busybox-static ${manifest.busybox.version}, ${manifest.modules.length} modules, ${mib(manifest.bytes.initrd)} MiB\n` +
          `  sha256  ${manifest.sha256.kernel.slice(0, 16)}… ${manifest.sha256.initrd.slice(0, 16)}…\n`,
      );
    });
  return agent;
}
