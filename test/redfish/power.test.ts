/**
 * The quirk layer of src/redfish/power.ts against the vendor mockups: for each vendor, the
 * requests sent are the ones that vendor needs. The trees are real captures; how each
 * vendor answers a write cannot be captured in a tree, so those answers are hooks on the
 * mockup server (fakes, each citing docs/redfish.md and its source).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startMockup, type MockupOptions, type MockupWrite } from '../../lab/redfish-mockup.js';
import { RedfishClient } from '../../src/redfish/client.js';
import { BmcActionError, readSystemControl, resetPlan, resetSystem, setOneTimeBoot } from '../../src/redfish/power.js';

const FAST = { pollMs: 10, settleMs: 2000, postRetryMs: 10 };

async function bmc(t: { after(fn: () => Promise<unknown>): void }, options: MockupOptions, system: string) {
  const mockup = await startMockup(options);
  const client = new RedfishClient({ host: '127.0.0.1', port: mockup.port, scheme: 'http' }, { retries: 0 });
  t.after(async () => {
    await client.close();
    await mockup.close();
  });
  const root = await client.login('admin', 'password');
  const control = await readSystemControl(client, root, system);
  return { mockup, client, control, root };
}

const written = (writes: MockupWrite[]) => writes.map((write) => [write.method, write.path, write.body, write.ifMatch]);
const PXE_ONCE = { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' };

test('DMTF (standard): PATCH Target+Enabled without Mode, read back; a running system is reset with ForceRestart', async (t) => {
  const system = '/redfish/v1/Systems/437XR1238R2';
  const { mockup, client, control } = await bmc(t, { tree: 'dmtf-public-tower' }, system);
  // Read by hand from the tree: override Disabled/Hdd, Mode UEFI, PowerState On, no ETag anywhere.
  assert.deepEqual(
    [control.vendor, control.boot.target, control.boot.enabled, control.boot.mode, control.powerState, control.etag],
    ['generic', 'Hdd', 'Disabled', 'UEFI', 'On', null],
  );
  const override = await setOneTimeBoot(client, control, 'Pxe', FAST);
  const reset = await resetSystem(client, control, 'cycle', FAST);
  assert.deepEqual(written(mockup.writes), [
    ['PATCH', system, { Boot: PXE_ONCE }, null],
    ['POST', `${system}/Actions/ComputerSystem.Reset`, { ResetType: 'ForceRestart' }, null],
  ]);
  assert.equal(override.resource, system);
  assert.deepEqual([reset.resetTypes, reset.powerState], [['ForceRestart'], 'On']);
});

test('HPE iLO 5: never sends BootSourceOverrideMode, sends If-Match from @odata.etag, and retries while the server is in POST', async (t) => {
  const system = '/redfish/v1/Systems/1';
  let inPost = 1;
  const { mockup, client, control } = await bmc(
    t,
    {
      tree: 'hpe-ilo5-proliant-dl325-gen10plus-fc',
      write: (write) => {
        if (write.method !== 'PATCH') return undefined;
        // iLO refuses a Mode write with 400 (ansible-collections/community.general#3509) ...
        if (JSON.stringify(write.body).includes('BootSourceOverrideMode'))
          return {
            status: 400,
            body: {
              error: { code: 'iLO.0.10.ExtendedInfo', '@Message.ExtendedInfo': [{ MessageId: 'iLO.2.14.PropertyNotWritableOrUnknown' }] },
            },
          };
        // ... and any change during POST (Ironic _is_during_post_error).
        if (inPost-- > 0)
          return {
            status: 400,
            body: {
              error: { code: 'iLO.0.10.ExtendedInfo', '@Message.ExtendedInfo': [{ MessageId: 'iLO.2.14.UnableToModifyDuringSystemPOST' }] },
            },
          };
        return undefined;
      },
    },
    system,
  );
  assert.deepEqual([control.vendor, control.boot.mode, control.etag], ['hpe', 'UEFI', 'W/"1C210906"']);
  await setOneTimeBoot(client, control, 'Pxe', { ...FAST, mode: 'UEFI' });
  assert.deepEqual(written(mockup.writes), [
    ['PATCH', system, { Boot: PXE_ONCE }, 'W/"1C210906"'],
    ['PATCH', system, { Boot: PXE_ONCE }, 'W/"1C210906"'],
  ]);
  // iLO 5 lists no PowerCycle and no ForceOn: from Off it is On, running it is ForceRestart.
  assert.deepEqual(resetPlan('on', 'Off', control.resetTypes), ['On']);
  assert.deepEqual(resetPlan('cycle', 'On', control.resetTypes), ['ForceRestart']);
});

test('Supermicro X10: no Mode property, so none is sent (the X10 refuses a PATCH holding one)', async (t) => {
  const system = '/redfish/v1/Systems/1';
  const { mockup, client, control } = await bmc(
    t,
    {
      tree: 'supermicro-x10sdv-ast2400-redfish-1.0.1',
      // gacybercenter/kinetic#60: the X10 answers 400 to any PATCH with BootSourceOverrideMode.
      write: (write) =>
        JSON.stringify(write.body).includes('BootSourceOverrideMode')
          ? { status: 400, body: { error: { code: 'Base.1.0.PropertyUnknown', message: 'BootSourceOverrideMode' } } }
          : undefined,
    },
    system,
  );
  assert.deepEqual([control.vendor, control.boot.hasMode, control.boot.targets?.includes('Pxe')], ['supermicro', false, true]);
  await setOneTimeBoot(client, control, 'Pxe', FAST);
  assert.deepEqual(written(mockup.writes), [['PATCH', system, { Boot: PXE_ONCE }, null]]);
});

test("AMI MegaRAC (Gigabyte): the full request is refused on the System, so it goes to the FutureState /SD with that resource's If-Match", async (t) => {
  const system = '/redfish/v1/Systems/Self';
  const { mockup, client, control } = await bmc(
    t,
    {
      tree: 'gigabyte-ami-megarac',
      etags: true,
      write: (write) => {
        if (write.method !== 'PATCH') return undefined;
        // Omni PR #68 (setBootAMIFutureState) and Redfish-Tacklebox#144.
        if (write.path === system)
          return {
            status: 400,
            body: {
              error: {
                code: 'Base.1.0.GeneralError',
                '@Message.ExtendedInfo': [{ MessageId: 'Ami.1.0.OperationSupportedInFutureStateURI', Message: 'use /SD' }],
              },
            },
          };
        if (write.path === `${system}/SD` && write.ifMatch === null)
          return {
            status: 428,
            body: {
              error: { '@Message.ExtendedInfo': [{ MessageId: 'Ami.1.0.PreconditionHeaderMissing', Message: 'If-Match required' }] },
            },
          };
        return undefined;
      },
    },
    system,
  );
  // The FutureState resource exists only on the live BMC: made here with the System's Boot.
  mockup.state.merge(`${system}/SD`, {
    Boot: { BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideTarget: 'None', BootSourceOverrideMode: 'Legacy' },
  });
  // The ETag header wins over the body's W/"1649881751"; the tree's mode is Legacy, and AMI wants it sent every time.
  assert.deepEqual(
    [control.vendor, control.etag, control.boot.mode, control.resetTypes],
    ['ami', '"1"', 'Legacy', ['GracefulShutdown', 'ForceRestart', 'ForceOff', 'On']],
  );
  const override = await setOneTimeBoot(client, control, 'Pxe', FAST);
  const full = { Boot: { ...PXE_ONCE, BootSourceOverrideMode: 'Legacy' } };
  assert.deepEqual(written(mockup.writes), [
    ['PATCH', system, full, '"1"'],
    ['PATCH', `${system}/SD`, full, '"2"'],
  ]);
  assert.equal(override.resource, `${system}/SD`);
});

test('iDRAC-style read-only Boot: the write goes to the @Redfish.Settings object and is read back there', async (t) => {
  const system = '/redfish/v1/Systems/437XR1238R2';
  const settings = `${system}/Settings`;
  const { mockup, client, root } = await bmc(
    t,
    {
      tree: 'dmtf-public-tower',
      // gofish PR #511: iDRAC 10 made Boot read-only on the System.
      write: (write) =>
        write.path === system
          ? {
              status: 400,
              body: {
                error: {
                  '@Message.ExtendedInfo': [
                    { MessageId: 'Base.1.12.PropertyNotWritable', Message: 'The property Boot is a read only property' },
                  ],
                },
              },
            }
          : undefined,
    },
    system,
  );
  mockup.state.merge(system, { '@Redfish.Settings': { SettingsObject: { '@odata.id': settings } } });
  mockup.state.merge(settings, { Boot: { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled' } });
  const control = await readSystemControl(client, root, system);
  assert.equal(control.settingsPath, settings);
  const override = await setOneTimeBoot(client, control, 'Pxe', FAST);
  assert.deepEqual(written(mockup.writes), [
    ['PATCH', system, { Boot: PXE_ONCE }, null],
    ['PATCH', settings, { Boot: PXE_ONCE }, null],
  ]);
  assert.equal(override.resource, settings);
});

test('a 412 is retried with a fresh, strong ETag', async (t) => {
  const system = '/redfish/v1/Systems/437XR1238R2';
  const { mockup, client, control } = await bmc(t, { tree: 'dmtf-public-tower', etags: true }, system);
  mockup.state.merge(system, { Name: 'changed by someone else' }); // the ETag read is now stale
  await setOneTimeBoot(client, control, 'Pxe', FAST);
  assert.deepEqual(
    written(mockup.writes).map((write) => write[3]),
    ['"1"', '"2"'],
  );
});

test('a BMC that answers 200 and keeps nothing, or refuses a reset, fails with what it said', async (t) => {
  const system = '/redfish/v1/Systems/437XR1238R2';
  const { client, control } = await bmc(
    t,
    {
      tree: 'dmtf-public-tower',
      write: (write) => {
        // bmclib PR #459: a Supermicro AS-1015CS answered 200 and reverted the override.
        if (write.method === 'PATCH') return { status: 200, body: {} };
        return {
          status: 400,
          body: {
            error: {
              '@Message.ExtendedInfo': [{ MessageId: 'Base.1.0.ActionNotSupported', Message: 'Command not supported in present state' }],
            },
          },
        };
      },
    },
    system,
  );
  await assert.rejects(
    setOneTimeBoot(client, control, 'Pxe', FAST),
    (error: unknown) =>
      error instanceof BmcActionError &&
      /did not keep it: .* reads back BootSourceOverrideTarget Hdd, BootSourceOverrideEnabled Disabled/.test(error.message),
  );
  await assert.rejects(
    resetSystem(client, control, 'cycle', FAST),
    (error: unknown) =>
      error instanceof BmcActionError &&
      error.message ===
        'the BMC refused ResetType ForceRestart: HTTP 400: Command not supported in present state (Base.1.0.ActionNotSupported)',
  );
});

test('reset plans follow the allowed types and the power state', () => {
  const gigabyte = ['GracefulShutdown', 'ForceRestart', 'ForceOff', 'On'];
  assert.deepEqual(resetPlan('on', 'On', gigabyte), [], 'already on: nothing');
  assert.deepEqual(resetPlan('off', 'Off', gigabyte), []);
  assert.deepEqual(resetPlan('cycle', 'Off', gigabyte), ['On'], 'a cycle of an Off system is a power-on');
  assert.deepEqual(resetPlan('on', 'Off', ['ForceOn', 'ForceOff']), ['ForceOn']);
  assert.deepEqual(resetPlan('cycle', 'On', ['On', 'ForceOff', 'GracefulShutdown']), ['ForceOff', 'On'], 'no restart type: off, then on');
  assert.deepEqual(resetPlan('cycle', 'On', ['On', 'ForceOff', 'PowerCycle']), ['PowerCycle']);
  assert.deepEqual(resetPlan('cycle', 'On', null), ['ForceRestart'], 'nothing listed: the standard type');
  assert.throws(() => resetPlan('on', 'Off', ['ForceOff', 'Nmi']), /allows no reset type that powers on \(it allows ForceOff, Nmi\)/);
});
