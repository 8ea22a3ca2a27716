import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bootFlagsData,
  macOf,
  powerStateOf,
  readBootFlags,
  readFailure,
  readFru,
  readRawBytes,
  systemGuidOf,
} from '../../src/ipmi/replies.js';

test('boot flags for a one-time boot: valid, next boot only, EFI when asked, the device selector in bits 5:2', () => {
  // 0x80 valid | 0x20 EFI; PXE selector 0001 << 2 = 0x04.
  assert.deepEqual(bootFlagsData('pxe', true), [0xa0, 0x04, 0, 0, 0]);
  // Disk selector 0010 << 2 = 0x08, legacy (no EFI bit).
  assert.deepEqual(bootFlagsData('disk', false), [0x80, 0x08, 0, 0, 0]);
  assert.deepEqual(bootFlagsData('cdrom', true), [0xa0, 0x14, 0, 0, 0]);
});

test('boot flags read back: parameter 5 answers only', () => {
  assert.deepEqual(readBootFlags([0x01, 0x05, 0xe0, 0x04, 0, 0, 0]), { valid: true, persistent: true, efi: true, device: 'pxe' });
  assert.deepEqual(readBootFlags([0x01, 0x85, 0x00, 0x08, 0, 0, 0]), { valid: false, persistent: false, efi: false, device: 'disk' });
  assert.equal(readBootFlags([0x01, 0x05, 0x80, 0x3c, 0, 0, 0]).device, 'other');
  assert.throws(() => readBootFlags([0x01, 0x04, 0x00, 0x00]), /parameter 5/);
  assert.throws(() => readBootFlags([0x01]), /parameter 5/);
});

test('raw answers: hex pairs over lines; anything else is refused', () => {
  assert.deepEqual(readRawBytes(' 01 05 00\n 04 00\n'), [1, 5, 0, 4, 0]);
  assert.deepEqual(readRawBytes('\n'), []);
  assert.throws(() => readRawBytes(' 01 zz'), /not a byte/);
});

test('chassis status, system GUID and the LAN MAC', () => {
  assert.equal(powerStateOf([0x61, 0, 0]), 'On');
  assert.equal(powerStateOf([0x60, 0, 0]), 'Off');
  assert.throws(() => powerStateOf([]));
  assert.equal(
    systemGuidOf([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
    'ffeeddcc-bbaa-9988-7766-554433221100',
  );
  assert.equal(systemGuidOf(new Array(16).fill(0)), null);
  assert.equal(systemGuidOf([1, 2, 3]), null);
  assert.equal(macOf([0x11, 0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01]), '52:54:00:aa:bb:01');
  assert.equal(macOf([0x11, 0, 0, 0, 0, 0, 0]), null);
});

test('failures as ipmitool 1.8.19 prints them', () => {
  assert.deepEqual(
    readFailure('Unable to send RAW command (channel=0x0 netfn=0x0 lun=0x0 cmd=0x8 rsp=0xcc): Invalid data field in request\n'),
    { failure: 'refused', code: 0xcc, message: 'Invalid data field in request' },
  );
  assert.deepEqual(
    readFailure(
      'Loading IANA PEN Registry...\nError in open session response message : invalid authentication algorithm\n\nError: Unable to establish IPMI v2 / RMCP+ session\n',
    ),
    { failure: 'cipher', code: 0x04, message: 'open session refused: invalid authentication algorithm' },
  );
  assert.deepEqual(
    readFailure('RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session'),
    {
      failure: 'auth',
      code: 0x0d,
      message: 'session refused: unauthorized name',
    },
  );
  assert.equal(readFailure('> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session').failure, 'auth');
  assert.equal(readFailure('Error: Unable to establish IPMI v2 / RMCP+ session\n').failure, 'unreachable');
  assert.equal(readFailure('No response from remote controller\n').failure, 'unreachable');
  assert.deepEqual(readFailure(' Device not present (Invalid data field in request)\n'), {
    failure: 'refused',
    code: null,
    message: 'device not present: Invalid data field in request',
  });
  const hostile = readFailure(`something odd \u001b[2J${'x'.repeat(5000)}`);
  assert.equal(hostile.failure, 'protocol');
  assert.ok(hostile.message.length <= 200);
  assert.equal(hostile.message.includes('\u001b'), false);
});

test('FRU: the product area first, the board where it lacks a field; values cleaned and bounded', () => {
  const text = [
    ' FRU Device Description : Builtin FRU Device (ID 0)',
    ' Chassis Type          : Rack Mount Chassis',
    ' Chassis Serial        : CH-1',
    ' Board Mfg             : Board Maker',
    ' Board Product         : X11DPi',
    ' Board Serial          : BS-2',
    ' Product Manufacturer  : Supermicro',
    ' Product Name          :  ',
    ` Product Serial        : PS-3\u001b[31m${'9'.repeat(300)}`,
  ].join('\n');
  const fru = readFru(text);
  assert.equal(fru.manufacturer, 'Supermicro');
  assert.equal(fru.model, 'X11DPi', 'an empty product name falls back to the board product');
  assert.equal(fru.serial?.startsWith('PS-3[31m999'), true);
  assert.equal(fru.serial?.length, 255);
  assert.equal(fru.partNumber, null);
  assert.deepEqual(readFru(''), { manufacturer: null, model: null, serial: null, partNumber: null });
});
