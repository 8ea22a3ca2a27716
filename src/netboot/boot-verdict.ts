import type { MachineState } from '../lifecycle/lifecycle.js';
import type { MachineEventJson, ObservationJson } from '../store/index.js';

/**
 * "Why did it not boot": the answer to the first question on every PXE forum, from what
 * metalbox recorded. Pure: the observations DHCP snooping kept for the NIC and the
 * machine's recent events go in, and out comes each step of a network boot in order
 * (was DHCP seen, was it a PXE client, did metalbox answer, did the firmware fetch the boot
 * loader, the script, the kernel, the initrd, did the installer call back), where the latest
 * boot stopped, and the likely causes with their fixes.
 */

export type BootStep = 'dhcp' | 'pxe' | 'answer' | 'loader' | 'script' | 'kernel' | 'initrd' | 'callback';

export interface BootStepResult {
  step: BootStep;
  /** true: it happened; false: it did not (the boot stopped here); null: not reached, or not needed. */
  ok: boolean | null;
  detail: string;
}

export interface BootVerdict {
  mac: string;
  machineId: string | null;
  /** One line: where the latest boot stopped, or that it went through. */
  verdict: string;
  stoppedAt: BootStep | null;
  steps: BootStepResult[];
  causes: Array<{ cause: string; fix: string }>;
}

export interface VerdictInput {
  /** The NIC asked about. */
  mac: string;
  machine: { id: string; state: MachineState; maintenance: boolean; profile: string | null; nics: string[] } | null;
  /** What snooping kept of this MAC, any order. */
  observations: readonly ObservationJson[];
  /** The machine's latest events, oldest first. */
  events: readonly MachineEventJson[];
  settings: { unknown: 'ignore' | 'discover'; proxyDhcp: boolean; tftp: boolean };
  /** Whether metalbox has a boot loader for a client of this architecture and vendor class (dhcp-proxy's table). */
  hasLoader: (arch: number, vendorClass: string) => boolean;
  /** Observations of the machine's other NICs, when the one asked about was never seen. */
  otherNics?: readonly ObservationJson[];
}

/** Milestones within this long of each other belong to one boot (an installer's kernel and its callback can be an hour apart). */
const ONE_BOOT_MS = 2 * 3_600_000;

export function bootVerdict(input: VerdictInput): BootVerdict {
  const { mac, machine, observations } = input;
  const steps: BootStepResult[] = [];
  const result = (stoppedAt: BootStep | null, verdict: string, causes: BootVerdict['causes'] = []): BootVerdict => {
    const reached = new Set(steps.map((step) => step.step));
    for (const step of STEPS) if (!reached.has(step)) steps.push({ step, ok: null, detail: 'not reached' });
    return { mac, machineId: machine?.id ?? null, verdict, stoppedAt, steps, causes };
  };

  // 1. DHCP from this MAC at all.
  const latest = [...observations].sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
  if (latest.length === 0) {
    steps.push({ step: 'dhcp', ok: false, detail: 'no DHCP packet from this MAC was seen (or its observations expired)' });
    const others = (input.otherNics ?? []).map((seen) => seen.mac);
    return result('dhcp', `metalbox never saw DHCP from ${mac}`, [
      ...(others.length > 0
        ? [
            {
              cause: `the machine boots from another NIC: DHCP came from ${[...new Set(others)].join(', ')}`,
              fix: 'set the boot order to PXE on this NIC, or ask about that one',
            },
          ]
        : []),
      {
        cause: 'the machine is off, or its firmware does not try the network',
        fix: 'power it on with a one-time PXE boot: metalbox provision, or the BMC console',
      },
      {
        cause: "metalbox is not on this NIC's segment, and no relay forwards to it",
        fix: 'point the DHCP relay (ip helper-address) at metalbox too, or run metalbox on that segment',
      },
    ]);
  }
  steps.push({ step: 'dhcp', ok: true, detail: `last ${latest[0]!.messageType} at ${latest[0]!.lastSeen} (${sum(latest)} packets kept)` });

  // 2. A PXE or HTTP boot client, and which.
  const pxe = latest.find((seen) => /^(PXEClient|HTTPClient)/.test(seen.vendorClass ?? ''));
  if (pxe === undefined) {
    const vendors = [...new Set(latest.map((seen) => seen.vendorClass ?? 'no vendor class'))].join(', ');
    steps.push({
      step: 'pxe',
      ok: false,
      detail: `DHCP came from an operating system or another client (${vendors}), never from boot firmware`,
    });
    return result('pxe', `${mac} sent DHCP, but never as a network-booting firmware`, [
      {
        cause: 'the machine booted from its disk (boot order, or a one-time override that was not set)',
        fix: 'metalbox provision sets a one-time PXE boot through the BMC; or put PXE first in the boot order',
      },
      { cause: 'network boot is disabled on this NIC in the firmware setup', fix: 'enable PXE (or UEFI network/HTTP boot) for this port' },
    ]);
  }
  const client = `${pxe.vendorClass?.startsWith('HTTPClient') ? 'UEFI HTTP boot' : 'PXE'} client, architecture ${pxe.arch ?? 'unknown'}`;
  steps.push({ step: 'pxe', ok: true, detail: `${client}, last seen ${pxe.lastSeen}` });

  // 3. Did metalbox answer it, and if not, why not.
  const refusal = whyNoAnswer(input, pxe);
  if (refusal !== null) {
    steps.push({ step: 'answer', ok: false, detail: refusal.detail });
    return result('answer', refusal.verdict, refusal.causes);
  }
  if (machine === null) {
    // boot.unknown: discover answers every PXE client; the record is made when it asks for its script.
    steps.push({ step: 'answer', ok: true, detail: 'answered as an unknown machine (boot.unknown: discover)' });
    return result('script', `${mac} was answered for discovery but never asked for its script (the record is made when it does)`, [
      {
        cause: 'the firmware did not fetch its boot loader or iPXE its script',
        fix: 'see the console; the same causes as a known machine that stops before its script',
      },
      {
        cause: 'boot.maxDiscovered machines already wait for their agent',
        fix: 'let them finish (or expire), or raise boot.maxDiscovered',
      },
    ]);
  }
  const boot = latestBoot(input.events);
  const answered = boot.find((event) => event.type === 'boot.dhcp');
  if (answered === undefined || answered.at < minus(pxe.lastSeen, 60_000)) {
    steps.push({
      step: 'answer',
      ok: false,
      detail:
        answered === undefined
          ? 'no ProxyDHCP answer is recorded for this machine'
          : `the last answer (${answered.at}) is older than the last PXE request`,
    });
    return result('answer', `metalbox did not answer ${mac}'s latest PXE request`, [
      {
        cause: 'another ProxyDHCP or PXE server on the segment answered first, or metalbox was not running then',
        fix: 'metalbox doctor looks for other PXE servers; check metalbox serve was up',
      },
    ]);
  }
  steps.push({ step: 'answer', ok: true, detail: `${answered.message} at ${answered.at}` });

  // 4. The boot loader (TFTP, or an iPXE binary over HTTP for UEFI HTTP boot). iPXE firmware skips it.
  const ipxeFirmware = answered.message.includes('boot.ipxe') || (answered.data as { firmware?: string } | null)?.firmware === 'ipxe';
  const loader = boot.find((event) => event.type === 'boot.tftp' || (event.type === 'boot.asset' && event.message.includes('iPXE binary')));
  const script = boot.find((event) => event.type === 'boot.script');
  if (loader === undefined && !ipxeFirmware && script === undefined) {
    steps.push({ step: 'loader', ok: false, detail: 'the firmware was answered but never fetched its boot loader' });
    return result('loader', `${mac} was answered but never fetched its boot loader`, [
      ...(input.settings.tftp
        ? []
        : [
            {
              cause: "metalbox's TFTP is off (--no-tftp), and PXE firmware fetches its loader over TFTP",
              fix: 'turn TFTP on, or serve the loaders from another TFTP server',
            },
          ]),
      {
        cause: 'the site DHCP server hands out its own next-server/filename, which the firmware prefers',
        fix: 'remove next-server and filename (options 66/67) for these machines from the site DHCP server',
      },
      {
        cause: 'the firmware accepts boot information only from the server that gave the address, and ignores ProxyDHCP offers',
        fix: 'have the site DHCP server send option 60 PXEClient (UEFI then asks metalbox on 4011), or next-server = metalbox',
      },
      {
        cause: 'a firewall drops TFTP (UDP 69 and the transfer ports) or the HTTP port',
        fix: 'allow 69/udp and the HTTP port to metalbox',
      },
    ]);
  }
  steps.push({
    step: 'loader',
    ok: loader === undefined ? null : true,
    detail: loader === undefined ? 'not needed: the firmware is iPXE' : `${loader.message} at ${loader.at}`,
  });

  // 5. The iPXE script.
  if (script === undefined) {
    const uefi = pxe.arch !== null && pxe.arch !== 0;
    steps.push({ step: 'script', ok: false, detail: 'iPXE never asked for its script' });
    return result('script', `${mac} got its boot loader but iPXE never asked for its script`, [
      ...(uefi
        ? [
            {
              cause: 'Secure Boot is on, and the firmware refused the unsigned iPXE binary',
              fix: "give its profile loader: grub (Debian's signed shim and GRUB; the site DHCP server names metalbox as next-server), or turn Secure Boot off for provisioning",
            },
          ]
        : []),
      {
        cause: "iPXE got no address of its own (its DHCP was not answered by the site's DHCP server)",
        fix: "check the site DHCP server's leases and pool",
      },
      {
        cause: 'a firewall drops the HTTP port, or iPXE waits on IPv6 first',
        fix: 'allow the HTTP port to metalbox; the iPXE console shows which',
      },
    ]);
  }
  steps.push({ step: 'script', ok: true, detail: `${script.message} at ${script.at}` });
  if (/local boot/.test(script.message)) {
    return result(null, `metalbox told ${mac} to boot from its disk (${script.message})`, [
      {
        cause: `the machine is ${machine?.state ?? 'known'}: metalbox answers it with a local boot`,
        fix: 'if it comes back to PXE instead, its disk holds no bootable system: metalbox provision installs one',
      },
    ]);
  }
  if (/refused|does not render/.test(script.message)) {
    steps.push({ step: 'kernel', ok: false, detail: 'the script was an error' });
    return result('script', `${mac}'s script was refused: ${script.message}`, [
      {
        cause: script.message,
        fix: 'see the event: an address metalbox did not see in DHCP (boot.addressTrust), or a profile that does not render',
      },
    ]);
  }

  // 6. Kernel, initrd, then the installer's (or the agent's, or the OS's) word.
  const agent = /agent/.test(script.message);
  const kernel = boot.find((event) => event.type === 'boot.kernel' || (agent && event.type === 'boot.asset'));
  if (kernel === undefined && !agent) {
    steps.push({ step: 'kernel', ok: false, detail: 'the kernel the script names was never sent' });
    return result('kernel', `${mac} got its script but never its kernel`, [
      {
        cause: 'the kernel is missing under --assets-dir, or its URL is elsewhere and unreachable',
        fix: 'metalbox profiles show <profile>; fetch the URL yourself from the segment',
      },
      {
        cause: 'the download failed (a firewall, or too little memory for the image)',
        fix: 'the iPXE console shows the error code; see ipxe.org/err',
      },
    ]);
  }
  steps.push({
    step: 'kernel',
    ok: kernel === undefined ? null : true,
    detail: kernel === undefined ? 'the agent: served from memory' : `${kernel.message}`,
  });
  const initrd = boot.find((event) => event.type === 'boot.initrd');
  steps.push({ step: 'initrd', ok: initrd === undefined ? null : true, detail: initrd === undefined ? 'none recorded' : initrd.message });
  const callback = boot.find(reportsBack);
  if (callback === undefined) {
    steps.push({ step: 'callback', ok: false, detail: 'nothing heard from what it booted' });
    return result('callback', `${mac} booted what metalbox sent, and has not called back`, [
      {
        cause: 'the installer or agent is still running, or stopped with an error on the console',
        fix: 'watch the console (BMC or serial); the state times out by provisioning.timeouts',
      },
      { cause: 'the installer cannot reach the callback URL', fix: "check the installer's network and the HTTP port" },
    ]);
  }
  steps.push({ step: 'callback', ok: true, detail: `${callback.message} at ${callback.at}` });
  return result(null, `${mac} booted through metalbox: ${callback.message}`);
}

const STEPS: readonly BootStep[] = ['dhcp', 'pxe', 'answer', 'loader', 'script', 'kernel', 'initrd', 'callback'];

/** Why metalbox would stay silent to this client, from its settings and the machine's record; null when it answers. */
function whyNoAnswer(input: VerdictInput, pxe: ObservationJson): { detail: string; verdict: string; causes: BootVerdict['causes'] } | null {
  const { mac, machine, settings } = input;
  if (!settings.proxyDhcp)
    return {
      detail: 'ProxyDHCP is off (--no-dhcp-proxy)',
      verdict: `metalbox's ProxyDHCP is off: it answers no PXE client`,
      causes: [
        {
          cause: 'serve runs with --no-dhcp-proxy',
          fix: 'the site DHCP server must then hand out next-server and the boot file; or turn the ProxyDHCP on',
        },
      ],
    };
  if (machine === null && settings.unknown === 'ignore')
    return {
      detail: `${mac} is not a NIC of any machine in the inventory`,
      verdict: `metalbox does not answer ${mac}: it is not in the inventory`,
      causes: [
        {
          cause: 'the machine was never onboarded, or this NIC was not listed by its BMC',
          fix: 'metalbox onboard <bmc-mac>; or boot.unknown: discover to let the agent enrol it',
        },
      ],
    };
  if (machine?.maintenance)
    return {
      detail: 'the machine is in maintenance',
      verdict: `metalbox does not answer ${mac}: its machine ${machine.id} is in maintenance`,
      causes: [{ cause: 'maintenance on', fix: `metalbox maintenance off ${machine.id}` }],
    };
  if (pxe.arch !== null && !input.hasLoader(pxe.arch, pxe.vendorClass ?? ''))
    return {
      detail: `no boot loader for architecture ${pxe.arch}`,
      verdict: `metalbox has no boot loader for ${mac}'s architecture ${pxe.arch} and stays silent`,
      causes: [
        {
          cause: `client architecture ${pxe.arch} (RFC 4578) has no binary in metalbox's table`,
          fix: 'boot it in a mode metalbox serves (x86 BIOS, UEFI x64 PXE or HTTP)',
        },
      ],
    };
  return null;
}

/**
 * The events of the machine's latest boot: the last run of boot milestones, callbacks and
 * agent reports, back to the first event that is none of them (an operator's command) or
 * to a gap of ONE_BOOT_MS; newest first.
 */
function latestBoot(events: readonly MachineEventJson[]): MachineEventJson[] {
  const boot: MachineEventJson[] = [];
  for (let index = events.length - 1; index >= 0; index--) {
    const event = events[index]!;
    const part = event.type.startsWith('boot.') || reportsBack(event);
    if (!part) break;
    if (boot.length > 0 && Date.parse(boot.at(-1)!.at) - Date.parse(event.at) > ONE_BOOT_MS) break;
    boot.push(event);
  }
  return boot;
}

/** The event types of what a booted installer (its callback), the agent (its reports) or a deployed OS says back. */
export const REPORTS_BACK = /^(callback|agent\.|deploy\.|clean\.)/;
const reportsBack = (event: MachineEventJson) => REPORTS_BACK.test(event.type);
const sum = (observations: readonly ObservationJson[]) => observations.reduce((total, seen) => total + seen.count, 0);
const minus = (iso: string, ms: number) => new Date(Date.parse(iso) - ms).toISOString();
