/**
 * What each mockup tree holds, read by hand from its JSON (the comments say where); never
 * produced by the scraper. The inventory tests and the onboarding tests check against it.
 */
export interface ExpectedSystem {
  path: string;
  serial: string | null;
  model: string | null;
  cpu: [count: number | null, cores: number | null];
  memoryGiB: number | null;
  macs: string[];
  drives: number;
}

export const EXPECTED: Record<string, ExpectedSystem[]> = {
  'dmtf-interface-emulator-static': [
    {
      path: '/redfish/v1/Systems/437XR1138R2',
      serial: '437XR1138R2',
      model: '3500RX',
      cpu: [1, 8], // CPU1: 8 cores; CPU2 is Status.State Absent (ProcessorSummary.Count says 2)
      memoryGiB: 96, // DIMM1-3 at 32768 MiB, DIMM4 Absent
      macs: ['12:44:6a:3b:04:11', '12:44:6a:3b:88:90', 'aa:bb:cc:dd:ee:00'], // NIC 1 legacy keys; NIC 2 permanent + current
      drives: 2, // SimpleStorage/1: bays 1 and 2; 3 and 4 Absent
    },
  ],
  'dmtf-public-rackmount1': [
    {
      path: '/redfish/v1/Systems/437XR1138R2',
      serial: '437XR1138R2',
      model: '3500',
      cpu: [1, 8],
      memoryGiB: 96,
      // EthernetInterfaces 12446A3B0411, 12446A3B8890 (permanent ≠ current), VLAN1 (repeats the parent), ToManager
      macs: ['12:44:6a:3b:04:11', '12:44:6a:3b:88:90', 'aa:bb:cc:dd:ee:00', 'aa:bb:cc:dd:ee:fe'],
      drives: 2,
    },
  ],
  // Four blades behind one service, summaries only, no host NICs.
  'dmtf-public-bladed': ['529QB9450R6', '529QB9451R6', '529QB9452R6', '529QB9453R6'].map((serial) => ({
    path: `/redfish/v1/Systems/${serial}`,
    serial,
    model: 'SX1000',
    cpu: [1, 4],
    memoryGiB: 64,
    macs: [],
    drives: 2,
  })),
  'dmtf-public-tower': [
    {
      path: '/redfish/v1/Systems/437XR1238R2',
      serial: '437XR1238R2',
      model: '3500',
      cpu: [8, 128], // 10 processors, 2 of them ProcessorType GPU; 16 cores each CPU
      memoryGiB: 1024, // 8 DIMMs of 131072 MiB present, 8 Absent
      macs: ['fb:aa:1d:4e:d0:7a', 'fb:aa:1d:4e:d0:7c', '00:0c:29:9a:98:ed', '00:0c:29:9a:98:ef'], // 2 EthernetInterfaces + NIC1's 2 functions
      drives: 10, // RAIDIntegrated and NVMeSecondary list 8 bays each, 4 of each Absent; NVMeSWRAID's two M.2
    },
  ],
  'dmtf-public-localstorage': [
    {
      path: '/redfish/v1/Systems/437XR1138R2',
      serial: '437XR1138R2',
      model: '3500RX',
      cpu: [1, 8],
      memoryGiB: 96,
      macs: ['12:44:6a:3b:04:11', '12:44:6a:3b:88:90', 'aa:bb:cc:dd:ee:00'],
      drives: 4,
    },
  ],
  'dmtf-public-smartnic': [
    {
      path: '/redfish/v1/Systems/437XR1138R2',
      serial: '437XR1138R2',
      model: '3500',
      cpu: [1, 8],
      memoryGiB: 96,
      // NetworkInterfaces → Card1/Slot1 and Card2/Slot2: functions SC2KP1F0/SC2KP2F0, permanent + current
      macs: ['a1:b1:c1:d1:e1:f1', 'aa:bb:cc:dd:ee:f5', 'a0:b0:c0:d0:e0:f0', 'aa:bb:cc:dd:ee:ff'],
      drives: 2,
    },
    { path: '/redfish/v1/Systems/Card1-SoC', serial: '637XR7568R4', model: '9900', cpu: [1, 4], memoryGiB: 8, macs: [], drives: 1 },
  ],
  'gigabyte-ami-megarac': [
    {
      path: '/redfish/v1/Systems/Self',
      serial: 'GJG9NF512A000302',
      model: 'H262-Z63-00',
      cpu: [2, 128], // two AMD EPYC 7702, 64 cores each
      memoryGiB: 244.14, // 16 DIMMs × 15625 MiB = 250000 MiB (MemorySummary rounds to 244)
      macs: ['b4:2e:99:ba:de:15', 'b4:2e:99:ba:de:16'],
      drives: 1,
    },
  ],
  'hpe-ilo5-proliant-dl325-gen10plus-fc': [
    {
      path: '/redfish/v1/Systems/1',
      serial: 'MXQ019020B',
      model: 'ProLiant DL325 Gen10 Plus - SIMULATED',
      cpu: [1, 16],
      memoryGiB: 64, // 4 of 16 slots at 16384 MiB, 12 Absent
      macs: [
        '94:40:c9:5c:86:bc',
        '94:40:c9:5c:86:bd',
        '14:02:ec:d9:3a:a0',
        '14:02:ec:d9:3a:a1', // EthernetInterfaces
        '88:e9:a4:6b:f5:74',
        '88:e9:a4:6b:f5:75',
        '88:e9:a4:6b:f5:76',
        '88:e9:a4:6b:f5:77', // DE080000 functions and ports
      ],
      drives: 2, // Storage/DE00A000 → Chassis/DE00A000/Drives/2556, 2557
    },
  ],
  // This project's own fixture (no service root; a SmartNIC SoC system with its own manager, listed first).
  'metalbox-dual-system-quirks': [
    {
      path: '/redfish/v1/Systems/DPU',
      serial: 'DPU20001',
      model: 'DPU-2',
      cpu: [1, null],
      memoryGiB: 16, // summaries only
      macs: ['b8:59:9f:00:10:00', 'b8:59:9f:00:10:01'], // its EthernetInterfaces p0, p1; pf0hpf on its card is the host's
      drives: 1, // SimpleStorage eMMC: the eMMC; Backplane 1 and SAS Expander Enclosure have no capacity; Slot 3 Absent
    },
    {
      path: '/redfish/v1/Systems/Host',
      serial: 'HOST24001',
      model: 'CX-2400',
      cpu: [2, null],
      memoryGiB: 256,
      macs: ['b8:59:9f:00:00:01', 'b8:59:9f:00:20:00'], // NIC.Embedded.1, NIC.Slot.1-1; not the SoC's p0/p1 its Card1 adapter shows
      drives: 2, // Disk.Bay.0 and Disk.Bay.1 (listed by both controllers, once with a trailing slash); Disk.Bay.2 Absent
    },
  ],
  'supermicro-x10sdv-ast2400-redfish-1.0.1': [
    {
      path: '/redfish/v1/Systems/1',
      serial: null,
      model: 'Super Server',
      cpu: [1, 8],
      memoryGiB: 64,
      macs: ['ac:1f:6b:18:a4:5a', 'ac:1f:6b:18:a4:5b', 'ac:1f:6b:18:a6:b2', 'ac:1f:6b:18:a6:b3'], // all Status.State Disabled
      drives: 0,
    },
  ],
};
