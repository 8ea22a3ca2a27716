import { AGENT_PROFILE, type Profile } from '../profiles/profiles.js';
import { TemplateError } from '../profiles/template.js';
import type { LoadedAgentImage } from './image.js';

/**
 * The agent's iPXE script: its kernel and initramfs from metalbox's memory, and on the
 * kernel command line the machine's agent URL (`mbx.url`, which holds its operation's
 * token), how long it listens for LLDP (`mbx.lldp`) and both consoles, so a machine with
 * only a serial console shows its progress.
 */
export function agentProfile(image: LoadedAgentImage, options: { lldpSeconds: number }): Profile {
  return {
    name: AGENT_PROFILE,
    assets: { kernel: null, initrds: [] },
    readsMachine: false,
    image: null,
    metadataNames: [],
    metadata: () => null,
    script(variables) {
      if (variables.agentUrl === null)
        throw new TemplateError('the agent needs its URL, which only a known machine under an operation has');
      return [
        '#!ipxe',
        `echo metalbox: ${variables.machineId ?? 'unknown machine'} (${variables.mac}) boots the metalbox agent`,
        `kernel ${variables.serverUrl}${image.kernelPath} initrd=initrd.gz console=tty0 console=ttyS0,115200 quiet mbx.url=${variables.agentUrl} mbx.lldp=${options.lldpSeconds} || goto failed`,
        `initrd --name initrd.gz ${variables.serverUrl}${image.initrdPath} || goto failed`,
        'boot || goto failed',
        ':failed',
        "echo metalbox: the agent did not boot; leaving it to the firmware's next boot entry",
        'exit 1',
        '',
      ].join('\n');
    },
  };
}
