import { grubPerCpuConfig } from '../profiles/grub.js';
import { AGENT_ARCHES, AGENT_ARCHITECTURES } from './build.js';
import { AGENT_PROFILE, type Loader, type Profile } from '../profiles/profiles.js';
import { TemplateError, type TemplateVariables } from '../profiles/template.js';
import type { LoadedAgentImage } from './image.js';

/**
 * The agent's boot: its kernel and initramfs from metalbox's memory, and on the kernel
 * command line the machine's agent URL (`mbx.url`, which holds its operation's token), how
 * long it listens for LLDP (`mbx.lldp`) and both consoles, so a machine with only a serial
 * console shows its progress. iPXE boots the amd64 image (Debian's iPXE is x86 only); GRUB
 * picks the image of the CPU it runs on.
 */
export function agentProfile(image: LoadedAgentImage, options: { lldpSeconds: number; loader: Loader }): Profile {
  const boot = (variables: TemplateVariables) => {
    if (variables.agentUrl === null) throw new TemplateError('the agent needs its URL, which only a known machine under an operation has');
    return {
      banner: `metalbox: ${variables.machineId ?? 'unknown machine'} (${variables.mac}) boots the metalbox agent`,
      cmdline: `console=tty0 console=ttyS0,115200 quiet mbx.url=${variables.agentUrl} mbx.lldp=${options.lldpSeconds}`,
      failure: "metalbox: the agent did not boot; leaving it to the firmware's next boot entry",
    };
  };
  const built = AGENT_ARCHES.flatMap((arch) => {
    const build = image.builds.get(arch);
    return build === undefined ? [] : [{ arch, ...build }];
  });
  return {
    name: AGENT_PROFILE,
    loader: options.loader,
    ipxeOnly: null,
    assets: { kernel: null, initrds: [] },
    readsMachine: false,
    image: null,
    metadataNames: [],
    metadata: () => null,
    script(variables) {
      const { banner, cmdline, failure } = boot(variables);
      const amd64 = image.builds.get('amd64');
      if (amd64 === undefined)
        throw new TemplateError('there is no amd64 agent image for iPXE to boot (metalbox agent build --arch amd64)');
      return [
        '#!ipxe',
        `echo ${banner}`,
        `kernel ${variables.serverUrl}${amd64.kernelPath} initrd=initrd.gz ${cmdline} || goto failed`,
        `initrd --name initrd.gz ${variables.serverUrl}${amd64.initrdPath} || goto failed`,
        'boot || goto failed',
        ':failed',
        `echo ${failure}`,
        'exit 1',
        '',
      ].join('\n');
    },
    // Over TFTP, where serve puts the images' files under the same paths as over HTTP.
    grub(variables) {
      return grubPerCpuConfig({
        ...boot(variables),
        kernels: built.map((build) => ({
          grubCpu: AGENT_ARCHITECTURES[build.arch].grubCpu,
          kernelPath: build.kernelPath,
          initrdPaths: [build.initrdPath],
        })),
        missing: `metalbox: no agent image for this CPU (built: ${built.map((build) => build.arch).join(', ')}; metalbox agent build --arch)`,
      });
    },
  };
}
