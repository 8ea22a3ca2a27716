import { grubKernelConfig } from '../profiles/grub.js';
import { AGENT_PROFILE, type Loader, type Profile } from '../profiles/profiles.js';
import { TemplateError, type TemplateVariables } from '../profiles/template.js';
import type { LoadedAgentImage } from './image.js';

/**
 * The agent's iPXE script: its kernel and initramfs from metalbox's memory, and on the
 * kernel command line the machine's agent URL (`mbx.url`, which holds its operation's
 * token), how long it listens for LLDP (`mbx.lldp`) and both consoles, so a machine with
 * only a serial console shows its progress.
 */
export function agentProfile(image: LoadedAgentImage, options: { lldpSeconds: number; loader: Loader }): Profile {
  const boot = (variables: TemplateVariables) => {
    if (variables.agentUrl === null) throw new TemplateError('the agent needs its URL, which only a known machine under an operation has');
    return {
      banner: `metalbox: ${variables.machineId ?? 'unknown machine'} (${variables.mac}) boots the metalbox agent`,
      kernelPath: image.kernelPath,
      initrdPath: image.initrdPath,
      cmdline: `console=tty0 console=ttyS0,115200 quiet mbx.url=${variables.agentUrl} mbx.lldp=${options.lldpSeconds}`,
      failure: "metalbox: the agent did not boot; leaving it to the firmware's next boot entry",
    };
  };
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
      const { banner, kernelPath, initrdPath, cmdline, failure } = boot(variables);
      return [
        '#!ipxe',
        `echo ${banner}`,
        `kernel ${variables.serverUrl}${kernelPath} initrd=initrd.gz ${cmdline} || goto failed`,
        `initrd --name initrd.gz ${variables.serverUrl}${initrdPath} || goto failed`,
        'boot || goto failed',
        ':failed',
        `echo ${failure}`,
        'exit 1',
        '',
      ].join('\n');
    },
    // Over TFTP, where serve puts the image's files under the same paths as over HTTP.
    grub(variables) {
      const { initrdPath, ...rest } = boot(variables);
      return grubKernelConfig({ ...rest, initrdPaths: [initrdPath] });
    },
  };
}
