/**
 * The virtual media quirk layer (src/redfish/virtual-media.ts) against the vendor mockups:
 * for each vendor, the drive chosen and the requests sent are the ones that vendor needs.
 * The trees are real captures; how a BMC answers a write cannot be captured in a tree, so
 * refusals are hooks on the mockup server (fakes, each saying whose behaviour it stands for).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startMockup, type MockupOptions, type MockupWrite } from '../../lab/redfish-mockup.js';
import { RedfishClient } from '../../src/redfish/client.js';
import { BmcActionError } from '../../src/redfish/power.js';
import { ejectVirtualMedia, findVirtualCd, insertVirtualMedia } from '../../src/redfish/virtual-media.js';

const IMAGE = 'http://10.0.0.1:8080/media/m-000000000001/token/boot.iso';

async function bmc(t: { after(fn: () => Promise<unknown>): void }, options: MockupOptions) {
  const mockup = await startMockup(options);
  const client = new RedfishClient({ host: '127.0.0.1', port: mockup.port, scheme: 'http' }, { retries: 0 });
  t.after(async () => {
    await client.close();
    await mockup.close();
  });
  await client.login('admin', 'password');
  return { mockup, client };
}

const written = (writes: MockupWrite[]) => writes.map((write) => [write.method, write.path, write.body]);

test("DMTF tower: the manager's CD1 holds an image and has no actions: PATCH it out, PATCH ours in, read back", async (t) => {
  const { mockup, client } = await bmc(t, { tree: 'dmtf-public-tower' });
  const drive = await findVirtualCd(client, '/redfish/v1/Systems/437XR1238R2');
  const cd = '/redfish/v1/Managers/BMC/VirtualMedia/CD1';
  // Read by hand from the tree: CD1 lists CD and DVD, Inserted true with DMTF's freeOS image, no Actions.
  assert.deepEqual(drive, {
    path: cd,
    inserted: true,
    image: 'redfish.dmtf.org/freeImages/freeOS.1.1.iso',
    insertTarget: null,
    ejectTarget: null,
    protocols: null,
  });
  const result = await insertVirtualMedia(client, drive, IMAGE, 'generic');
  assert.deepEqual(written(mockup.writes), [
    ['PATCH', cd, { Image: null, Inserted: false }],
    ['PATCH', cd, { Image: IMAGE, Inserted: true, WriteProtected: true }],
  ]);
  assert.equal(result.drive, cd);
  assert.equal(result.requests.at(-1), `GET ${cd}: Inserted true, Image <image URL>`);
  assert.ok(
    result.requests.every((line) => !line.includes(IMAGE)),
    'the URL (with its token) stays out of the timeline',
  );
});

test("DMTF rackmount: the drives are the system's own", async (t) => {
  const { client } = await bmc(t, { tree: 'dmtf-public-rackmount1' });
  const drive = await findVirtualCd(client, '/redfish/v1/Systems/437XR1138R2');
  assert.equal(drive.path, '/redfish/v1/Systems/437XR1138R2/VirtualMedia/CD1');
});

test('iLO 5: member 2 is the CD/DVD (1 is Floppy/USBStick); the standard InsertMedia action, no TransferProtocolType', async (t) => {
  const { mockup, client } = await bmc(t, { tree: 'hpe-ilo5-proliant-dl325-gen10plus-fc' });
  const drive = await findVirtualCd(client, '/redfish/v1/Systems/1');
  assert.equal(drive.path, '/redfish/v1/Managers/1/VirtualMedia/2');
  assert.equal(drive.inserted, false);
  await insertVirtualMedia(client, drive, IMAGE, 'hpe');
  assert.deepEqual(written(mockup.writes), [
    [
      'POST',
      '/redfish/v1/Managers/1/VirtualMedia/2/Actions/VirtualMedia.InsertMedia',
      { Image: IMAGE, Inserted: true, WriteProtected: true },
    ],
  ]);
  await ejectVirtualMedia(client, drive);
  assert.deepEqual(written(mockup.writes).at(-1), ['POST', '/redfish/v1/Managers/1/VirtualMedia/2/Actions/VirtualMedia.EjectMedia', {}]);
  assert.equal(mockup.state.read(drive.path)?.Inserted, false);
});

test('AMI MegaRAC: CD1 is told by its name (no MediaTypes), "None" is no image, and TransferProtocolType is sent', async (t) => {
  const { mockup, client } = await bmc(t, { tree: 'gigabyte-ami-megarac' });
  const drive = await findVirtualCd(client, '/redfish/v1/Systems/Self');
  assert.deepEqual([drive.path, drive.inserted, drive.image], ['/redfish/v1/Managers/Self/VirtualMedia/CD1', false, null]);
  await insertVirtualMedia(client, drive, IMAGE, 'ami');
  assert.deepEqual(written(mockup.writes), [
    [
      'POST',
      '/redfish/v1/Managers/Self/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia',
      { Image: IMAGE, Inserted: true, WriteProtected: true, TransferProtocolType: 'HTTP' },
    ],
  ]);
});

test('a drive whose insert action lists TransferProtocolType values (as iDRAC does) is sent the one of the URL', async (t) => {
  const { mockup, client } = await bmc(t, { tree: 'hpe-ilo5-proliant-dl325-gen10plus-fc' });
  const path = '/redfish/v1/Managers/1/VirtualMedia/2';
  // iDRAC's drive as bmclib's fixture shows it (dell/bmclib/virtualmedia_1.json in ../shared/redfish-samples).
  mockup.state.merge(path, {
    Actions: {
      '#VirtualMedia.InsertMedia': {
        target: `${path}/Actions/VirtualMedia.InsertMedia`,
        'TransferProtocolType@Redfish.AllowableValues': ['CIFS', 'HTTP', 'HTTPS', 'NFS'],
      },
    },
  });
  const drive = await findVirtualCd(client, '/redfish/v1/Systems/1');
  assert.deepEqual(drive.protocols, ['CIFS', 'HTTP', 'HTTPS', 'NFS']);
  await insertVirtualMedia(client, drive, IMAGE, 'generic');
  assert.deepEqual(mockup.writes.at(-1)?.body, { Image: IMAGE, Inserted: true, WriteProtected: true, TransferProtocolType: 'HTTP' });
});

test('a BMC that refuses a parameter it does not take is asked again with the Image alone', async (t) => {
  const { mockup, client } = await bmc(t, {
    tree: 'hpe-ilo5-proliant-dl325-gen10plus-fc',
    // Supermicro X11 and some iLO 5 firmware answer so to Inserted/WriteProtected (sushy's fallback).
    write: (write) =>
      write.body && 'WriteProtected' in write.body
        ? {
            status: 400,
            body: {
              error: { code: 'Base.1.0.GeneralError', message: 'ActionParameterNotSupported: WriteProtected', '@Message.ExtendedInfo': [] },
            },
          }
        : undefined,
  });
  const drive = await findVirtualCd(client, '/redfish/v1/Systems/1');
  const result = await insertVirtualMedia(client, drive, IMAGE, 'hpe');
  assert.deepEqual(
    mockup.writes.map((write) => write.body),
    [{ Image: IMAGE, Inserted: true, WriteProtected: true }, { Image: IMAGE }],
  );
  assert.equal(result.requests.length, 3);
});

test('refusals: an image the BMC will not take, a drive that does not keep it, a BMC without virtual media', async (t) => {
  const refusing = await bmc(t, {
    tree: 'hpe-ilo5-proliant-dl325-gen10plus-fc',
    write: () => ({
      status: 400,
      body: { error: { code: 'iLO.2.14.UnableToMountMedia', message: 'The virtual media could not be mounted' } },
    }),
  });
  const drive = await findVirtualCd(refusing.client, '/redfish/v1/Systems/1');
  await assert.rejects(insertVirtualMedia(refusing.client, drive, IMAGE, 'hpe'), (error: unknown) => {
    assert.ok(error instanceof BmcActionError);
    assert.match(error.message, /^the BMC refused the virtual media image: .*could not be mounted/);
    return true;
  });

  // Answers 204 and keeps nothing.
  const forgetful = await bmc(t, { tree: 'hpe-ilo5-proliant-dl325-gen10plus-fc', write: () => ({ status: 204 }) });
  const same = await findVirtualCd(forgetful.client, '/redfish/v1/Systems/1');
  await assert.rejects(insertVirtualMedia(forgetful.client, same, IMAGE, 'hpe'), /accepted the virtual media image but does not hold it/);

  const none = await bmc(t, { tree: 'supermicro-x10sdv-ast2400-redfish-1.0.1' });
  await assert.rejects(findVirtualCd(none.client, '/redfish/v1/Systems/1'), /the BMC has no virtual CD\/DVD drive/);
});
