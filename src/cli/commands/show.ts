import type { Command } from 'commander';
import { type AgentDrive, type AgentNic, agentFirmwareOf, firmwareText } from '../../agent/inventory.js';
import type { MachineEventJson, MachineJson } from '../../store/index.js';
import { formatAge, formatBytes, orDash, renderData, renderTable } from '../output.js';
import { eventColumns } from './events.js';
import { clientCommand, outputOption, refPath, requireMachineRef, withClient } from './shared.js';
import { BMC_PROTOCOL_NAMES } from '../../store/bmcs.js';

const RECENT_EVENTS = 10;

export function showCommand(): Command {
  return clientCommand('show', 'show one machine: its facts and its last events')
    .argument('<ref>', 'machine id, BMC MAC or any NIC MAC (any MAC spelling)')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .action(async (text: string, options: { server?: string; output: 'table' | 'json' | 'yaml' }) => {
      const ref = requireMachineRef(text);
      await withClient(options, async (client) => {
        const machine = await client.get<MachineJson>(`/api/v1/machines/${refPath(ref)}`);
        if (options.output !== 'table') {
          process.stdout.write(renderData(machine, options.output));
          return;
        }
        const events = await client.get<MachineEventJson[]>(`/api/v1/machines/${machine.id}/events`, { limit: RECENT_EVENTS });
        const facts = await client.get<Record<string, unknown>>(`/api/v1/machines/${machine.id}/facts`);
        process.stdout.write(describe(machine, events, facts));
      });
    });
}

function describe(m: MachineJson, events: MachineEventJson[], facts: Record<string, unknown>): string {
  const lines: Array<[string, string]> = [
    ['Machine', m.id],
    ['State', `${m.state}${m.stateReason ? ` (${m.stateReason})` : ''}`],
    ...(m.maintenance ? [['Maintenance', 'on: no boot answers until metalbox maintenance off'] as [string, string]] : []),
    ...m.warnings.map((warning, index): [string, string] => [index === 0 ? 'Warning' : '', warning]),
    ['Power', orDash(m.power)],
    ['Type', `${orDash(m.serverType)}    Profile: ${orDash(m.profile)}`],
    [
      'BMC',
      m.bmc
        ? `${m.bmc.mac}  ${orDash(m.bmc.ip)}${m.bmc.ipSource ? ` (from ${m.bmc.ipSource})` : ''}  over ${BMC_PROTOCOL_NAMES[m.bmc.protocol]}`
        : '-',
    ],
  ];
  if (m.bmc)
    lines.push([
      '',
      m.bmc.protocol === 'ipmi'
        ? `firmware ${orDash(m.bmc.firmware)}`
        : `${orDash(m.bmc.model)}, firmware ${orDash(m.bmc.firmware)}, Redfish ${orDash(m.bmc.redfishVersion)}`,
    ]);
  const s = m.system;
  lines.push(
    ['System', `${orDash([s.manufacturer, s.model].filter(Boolean).join(' '))}${s.sku ? `, SKU ${s.sku}` : ''}`],
    ['Serial', orDash(s.serial)],
    ['UUID', orDash(s.uuid)],
    ['BIOS', orDash(s.biosVersion)],
    ...bootLine(facts['agent.firmware']),
    ['CPU', `${orDash(m.cpu.count)} × ${orDash(m.cpu.model)}, ${orDash(m.cpu.cores)} cores, ${orDash(m.cpu.threads)} threads`],
    ['Memory', `${m.memory.totalGiB === null ? '-' : `${m.memory.totalGiB} GiB`} in ${orDash(m.memory.dimms)} DIMMs`],
    // A machine with no BMC came from PXE discovery, not from onboarding.
    [m.bmc ? 'Enrolled' : 'Discovered', `${m.createdAt} (${formatAge(m.createdAt)} ago)`],
  );
  const width = Math.max(...lines.map(([label]) => label.length)) + 2;
  let text = `${lines.map(([label, value]) => `${label ? `${label}:` : ''}`.padEnd(width) + value).join('\n')}\n`;

  text += `\nNICs (${m.nics.length})\n`;
  if (m.nics.length > 0) {
    text += indent(
      renderTable(m.nics, [
        { header: 'MAC', value: (n) => n.mac },
        { header: 'NAME', value: (n) => orDash(n.name) },
        { header: 'SPEED', value: (n) => (n.speedMbps === null ? '-' : `${n.speedMbps} Mb/s`), right: true },
        { header: 'LINK', value: (n) => orDash(n.linkStatus) },
      ]),
    );
  }
  text += `\nDrives (${m.drives.length})\n`;
  if (m.drives.length > 0) {
    text += indent(
      renderTable(m.drives, [
        { header: 'NAME', value: (d) => orDash(d.name) },
        { header: 'MODEL', value: (d) => orDash(d.model) },
        { header: 'SERIAL', value: (d) => orDash(d.serial) },
        { header: 'CAPACITY', value: (d) => formatBytes(d.capacityBytes), right: true },
        { header: 'MEDIA', value: (d) => orDash(d.mediaType) },
        { header: 'PROTOCOL', value: (d) => orDash(d.protocol) },
      ]),
    );
  }
  // The agent's view of the disks: the stable paths that root-device hints and cleaning name.
  const agentDrives = Array.isArray(facts['agent.drives']) ? (facts['agent.drives'] as AgentDrive[]) : [];
  if (agentDrives.length > 0) {
    text += `\nDisks as its agent saw them (${agentDrives.length})\n`;
    text += indent(
      renderTable(agentDrives, [
        { header: 'DEVICE', value: (d) => orDash(d.device) },
        { header: 'BY-PATH', value: (d) => orDash(d.byPath) },
        { header: 'CAPACITY', value: (d) => formatBytes(d.capacityBytes), right: true },
        { header: 'MEDIA', value: (d) => orDash(d.mediaType) },
        { header: 'SERIAL', value: (d) => orDash(d.serial) },
        { header: 'DISCARD', value: (d) => (d.discard ? 'yes' : 'no') },
      ]),
    );
  }
  // The agent's view of the ports: the driver, and the switch port each is cabled to (LLDP).
  const agentNics = Array.isArray(facts['agent.nics']) ? (facts['agent.nics'] as AgentNic[]) : [];
  if (agentNics.length > 0) {
    text += `\nPorts as its agent saw them (${agentNics.length})\n`;
    text += indent(
      renderTable(agentNics, [
        { header: 'NAME', value: (n) => orDash(n.name) },
        { header: 'MAC', value: (n) => n.mac },
        { header: 'DRIVER', value: (n) => orDash(n.driver) },
        {
          header: 'SWITCH',
          value: (n) => (n.lldp ? (n.lldp.systemName ?? n.lldp.chassisId) : n.lldpFault ? `(bad LLDP frame: ${n.lldpFault})` : '-'),
        },
        { header: 'PORT', value: (n) => orDash(n.lldp?.portId ?? null) },
        { header: 'VLAN', value: (n) => orDash(n.lldp?.vlan ?? null) },
      ]),
    );
  }
  text += `\nLast events\n`;
  text += events.length === 0 ? '  (none)\n' : indent(renderTable(events, eventColumns));
  return text;
}

/** How the machine booted its agent (the agent.firmware fact), when an agent has run on it. */
function bootLine(fact: unknown): Array<[string, string]> {
  const firmware = agentFirmwareOf(fact);
  return firmware === null ? [] : [['Boot', `${firmwareText(firmware)} (as its agent booted)`]];
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '  ');
}
