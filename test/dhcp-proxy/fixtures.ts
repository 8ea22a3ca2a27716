/**
 * DHCP requests of the PXE clients in the lab (QEMU SeaBIOS + iPXE ROM, OVMF's EDK2
 * PxeBcDxe). The option bytes are those captured on the lab bridge and written down in
 * docs/lab.md, in wire order; xid and secs are illustrative. Whole packets
 * captured by this project's lab are in captures/ (captures.test.ts).
 */

const header = (chaddr: string, flags: number, xid: number, ciaddr = '00000000') =>
  '01' +
  '01' +
  '06' +
  '00' +
  xid.toString(16).padStart(8, '0') +
  '0004' +
  flags.toString(16).padStart(4, '0') +
  ciaddr +
  '00000000' +
  '00000000' +
  '00000000' +
  chaddr.replace(/:/g, '') +
  '00'.repeat(10) +
  '00'.repeat(64) +
  '00'.repeat(128) +
  '63825363';

const option = (code: number, hex: string) => code.toString(16).padStart(2, '0') + (hex.length / 2).toString(16).padStart(2, '0') + hex;
const ascii = (text: string) => Buffer.from(text, 'latin1').toString('hex');

const padTo = (hex: string, length: number) => hex + '00'.repeat(Math.max(0, length - hex.length / 2));

export const EDK2_PRL = '0102030405060c0d0f111216171c28292a2b3233363a3b3c4243618081828384858687';
export const EDK2_UUID = '000a58424d1111224283330000000000e1';

/** OVMF 2022.11 EDK2 PxeBcDxe DISCOVER, option order 53,57,55,97,94,93,60; broadcast flag. */
export const edk2Discover = Buffer.from(
  padTo(
    header('52:54:00:77:00:e1', 0x8000, 0x1c0ffee1) +
      option(53, '01') +
      option(57, '05c0') +
      option(55, EDK2_PRL) +
      option(97, EDK2_UUID) +
      option(94, '010300') +
      option(93, '0007') +
      option(60, ascii('PXEClient:Arch:00007:UNDI:003000')) +
      'ff',
    300,
  ),
  'hex',
);

/** EDK2's second step: REQUEST from port 4011 to the boot server, ciaddr set, no 50/54. */
export const edk2Request4011 = Buffer.from(
  padTo(
    header('52:54:00:77:00:e1', 0x0000, 0x1c0ffee2, '0a4d0065') +
      option(53, '03') +
      option(57, 'ff00') +
      option(55, EDK2_PRL) +
      option(97, EDK2_UUID) +
      option(94, '010300') +
      option(93, '0007') +
      option(60, ascii('PXEClient:Arch:00007:UNDI:003000')) +
      'ff',
    300,
  ),
  'hex',
);

/**
 * iPXE ROM under SeaBIOS: order 53,57,93,94,60,77,55,175,61,97. Option 77 is the bare
 * string "iPXE"; option 175 carries iPXE's encapsulated settings (bus id 177, version 235,
 * one-byte feature flags).
 */
export const IPXE_175 =
  'b105011af41000' + // 177 bus-id: PCI 1af4:1000 (virtio-net)
  'eb03010000' + // 235 version 1.0.0
  '170101' +
  '220101' +
  '130101' +
  '110101' +
  '270101' +
  '190101' +
  '290101' +
  '100102' +
  '210101' +
  '150101' +
  '180101' +
  '120101';
export const ipxeBiosDiscover = Buffer.from(
  padTo(
    header('52:54:00:77:00:b1', 0x0000, 0x5eab105) +
      option(53, '01') +
      option(57, '05c0') +
      option(93, '0000') +
      option(94, '010201') +
      option(60, ascii('PXEClient:Arch:00000:UNDI:002001')) +
      option(77, ascii('iPXE')) +
      option(55, '0103060c0f111a2b3c4243778081828384858687afcb') +
      option(175, IPXE_175) +
      option(61, '015254007700b1') +
      option(97, '000a58424d1111224283330000000000b1') +
      'ff',
    300,
  ),
  'hex',
);
