import { link, normalizePath, type RedfishBody, type RedfishClient, type RedfishReply } from './client.js';

/**
 * Power and one-time boot through Redfish, with the vendor quirks of
 * docs/redfish.md §8–§10 kept in this one place. Each function sends the fewest
 * requests a vendor needs and reads back what it changed: a BMC that answers 200 and
 * keeps nothing (it happens: bmclib PR #459) is caught here, not at the next boot.
 */

export type BmcVendor = 'hpe' | 'dell' | 'ami' | 'supermicro' | 'lenovo' | 'generic';

/** A BMC's refusal, in its own words; provisioning turns it into provision_failed. */
export class BmcActionError extends Error {
  override readonly name = 'BmcActionError';
}

/** What power and boot control need to know of one ComputerSystem, read fresh before acting. */
export interface SystemControl {
  path: string;
  vendor: BmcVendor;
  powerState: string | null;
  etag: string | null;
  boot: {
    target: string | null;
    enabled: string | null;
    mode: string | null;
    /** Whether the system has BootSourceOverrideMode at all (Cisco and Supermicro X10 do not, and refuse it). */
    hasMode: boolean;
    /** AllowableValues when the BMC lists them; null when it does not (then any value is tried). */
    targets: string[] | null;
    enabledValues: string[] | null;
    modes: string[] | null;
  };
  /** The reset types allowed, inline or from @Redfish.ActionInfo; null when not advertised. */
  resetTypes: string[] | null;
  resetTarget: string;
  /** The @Redfish.Settings object, where iDRAC 10 and others take writes the System refuses. */
  settingsPath: string | null;
}

export type PowerAction = 'on' | 'off' | 'cycle';

export interface ControlOptions {
  /** Between power-state reads while a reset settles. */
  pollMs: number;
  /** How long a reset may take to show in PowerState. */
  settleMs: number;
  /** Pause before retrying a write that HPE refuses while the server is in POST. */
  postRetryMs: number;
  postRetries: number;
}

export const CONTROL_DEFAULTS: ControlOptions = { pollMs: 2000, settleMs: 180_000, postRetryMs: 5000, postRetries: 6 };

/** The vendor whose quirks apply, from the service root and the system. */
export function vendorOf(root: RedfishBody, system: RedfishBody): BmcVendor {
  const oem = [
    ...Object.keys((root.Oem as RedfishBody | undefined) ?? {}),
    ...Object.keys((system.Oem as RedfishBody | undefined) ?? {}),
  ].map((key) => key.toLowerCase());
  const names = [root.Vendor, system.Manufacturer]
    .filter((value): value is string => typeof value === 'string')
    .map((value) => value.toLowerCase());
  const says = (...words: string[]) => words.some((word) => oem.includes(word) || names.some((name) => name.includes(word)));
  if (says('hpe', 'hp', 'hewlett')) return 'hpe';
  if (says('dell')) return 'dell';
  if (says('ami')) return 'ami';
  if (says('supermicro')) return 'supermicro';
  if (says('lenovo')) return 'lenovo';
  return 'generic';
}

/** Reads the system (fresh, with its ETag) and where its allowed reset types are. */
export async function readSystemControl(client: RedfishClient, root: RedfishBody, path: string): Promise<SystemControl> {
  const system = await client.get(path);
  const boot = (system.Boot ?? {}) as RedfishBody;
  const reset = (((system.Actions ?? {}) as RedfishBody)['#ComputerSystem.Reset'] ?? {}) as RedfishBody;
  let resetTypes = strings(reset['ResetType@Redfish.AllowableValues']);
  const actionInfo = typeof reset['@Redfish.ActionInfo'] === 'string' ? reset['@Redfish.ActionInfo'] : null;
  if (resetTypes === null && actionInfo !== null) {
    // AMI, OpenBMC and GB300 list them only in the ActionInfo resource.
    const info = await client.get(actionInfo).catch(() => null);
    const parameter = (Array.isArray(info?.Parameters) ? info.Parameters : []).find(
      (entry: unknown) => (entry as RedfishBody)?.Name === 'ResetType',
    ) as RedfishBody | undefined;
    resetTypes = strings(parameter?.AllowableValues);
  }
  const settings = link(((system['@Redfish.Settings'] ?? {}) as RedfishBody).SettingsObject);
  return {
    path: normalizePath(path),
    vendor: vendorOf(root, system),
    powerState: typeof system.PowerState === 'string' ? system.PowerState : null,
    etag: client.etags.get(normalizePath(path)) ?? (typeof system['@odata.etag'] === 'string' ? system['@odata.etag'] : null),
    boot: {
      target: stringOrNull(boot.BootSourceOverrideTarget),
      enabled: stringOrNull(boot.BootSourceOverrideEnabled),
      mode: stringOrNull(boot.BootSourceOverrideMode),
      hasMode: 'BootSourceOverrideMode' in boot,
      targets: strings(boot['BootSourceOverrideTarget@Redfish.AllowableValues']),
      enabledValues: strings(boot['BootSourceOverrideEnabled@Redfish.AllowableValues']),
      modes: strings(boot['BootSourceOverrideMode@Redfish.AllowableValues']),
    },
    resetTypes,
    resetTarget: typeof reset.target === 'string' ? reset.target : `${normalizePath(path)}/Actions/ComputerSystem.Reset`,
    settingsPath: settings,
  };
}

export interface OverrideResult {
  /** Where the override was written and read back: the System, AMI's FutureState (/SD) or the Settings object. */
  resource: string;
  /** One line per request sent, for the machine's timeline. */
  requests: string[];
}

/** What a one-time boot override sends the machine to: the network (provisioning), its disk (after a deploy), or its virtual CD. */
export type BootTarget = 'Pxe' | 'Hdd' | 'Cd';
const TARGET_NAMES: Record<BootTarget, string> = { Pxe: 'PXE', Hdd: 'disk', Cd: 'CD (virtual media)' };

/**
 * Sets a one-time boot (Target Pxe or Hdd, Enabled Once) and reads it back
 * (docs/redfish.md §8). `mode` is sent only when the system has the
 * property, lists the value (when it lists any), and either differs or belongs to a
 * vendor that reverts an omitted mode (Supermicro, AMI); never to HPE, which refuses it.
 */
export async function setOneTimeBoot(
  client: RedfishClient,
  control: SystemControl,
  bootTarget: BootTarget,
  options: Partial<ControlOptions> & { mode?: 'UEFI' | 'Legacy'; signal?: AbortSignal } = {},
): Promise<OverrideResult> {
  const settings = { ...CONTROL_DEFAULTS, ...options };
  const { boot, vendor } = control;
  const name = TARGET_NAMES[bootTarget];
  if (boot.targets !== null && !boot.targets.includes(bootTarget)) {
    throw new BmcActionError(`the BMC does not offer ${bootTarget} as a boot override target (it offers ${boot.targets.join(', ')})`);
  }
  if (boot.enabledValues !== null && !boot.enabledValues.includes('Once')) {
    throw new BmcActionError(
      `the BMC does not offer a one-time boot override (BootSourceOverrideEnabled allows ${boot.enabledValues.join(', ')})`,
    );
  }
  const fullRequest = vendor === 'ami' || vendor === 'supermicro';
  const wantedMode = options.mode ?? (fullRequest ? (boot.mode ?? undefined) : undefined);
  let withMode =
    wantedMode !== undefined &&
    boot.hasMode &&
    vendor !== 'hpe' &&
    (boot.modes === null || boot.modes.includes(wantedMode)) &&
    (wantedMode !== boot.mode || fullRequest);
  const requests: string[] = [];
  const body = () => ({
    Boot: {
      BootSourceOverrideTarget: bootTarget,
      BootSourceOverrideEnabled: 'Once',
      ...(withMode ? { BootSourceOverrideMode: wantedMode } : {}),
    },
  });
  const patch = async (path: string, etag: string | null): Promise<RedfishReply> => {
    // iDRAC appends -gzip to ETags it served compressed (docs/redfish.md §10); the tag itself is without it.
    const tag = etag?.replace(/-gzip("?)$/, '$1') ?? null;
    const sent = body();
    requests.push(`PATCH ${path} ${JSON.stringify(sent)}${tag === null ? '' : ` If-Match ${tag}`}`);
    return client.call('PATCH', path, sent, tag === null ? {} : { 'if-match': tag });
  };

  let resource = control.path;
  let reply = await patch(resource, control.etag);
  for (let duringPost = 0; !ok(reply) && says(reply, 'UnableToModifyDuringSystemPOST') && duringPost < settings.postRetries; duringPost++) {
    // iLO refuses changes while the server is in POST; Ironic waits and tries again.
    await sleep(settings.postRetryMs * 2 ** duringPost, options.signal);
    reply = await patch(resource, await freshEtag(client, resource));
  }
  if (reply.status === 412) {
    // A stale or weak ETag: read it again and send it strong, then not at all (docs/redfish.md §10).
    const etag = await freshEtag(client, resource);
    reply = await patch(resource, etag === null ? null : etag.replace(/^W\//, ''));
    if (reply.status === 412) reply = await patch(resource, null);
  }
  if (!ok(reply) && says(reply, 'OperationSupportedInFutureStateURI')) {
    // AMI MegaRAC takes boot changes only on its FutureState URI, and only with If-Match.
    resource = `${control.path}/SD`;
    reply = await patch(resource, await freshEtag(client, resource));
  } else if (!ok(reply) && withMode && reply.status === 400) {
    withMode = false;
    reply = await patch(resource, await freshEtag(client, resource));
  }
  if (
    !ok(reply) &&
    control.settingsPath !== null &&
    (reply.status === 400 || reply.status === 405) &&
    says(reply, 'PropertyNotWritable', 'ActionNotSupported', 'read-only', 'ReadOnly')
  ) {
    // iDRAC 10 made Boot read-only on the System: the write goes to the Settings object.
    resource = control.settingsPath;
    reply = await patch(resource, await freshEtag(client, resource));
  }
  if (!ok(reply)) throw new BmcActionError(`the BMC refused the one-time ${name} boot override: ${reply.message}`);

  const after = (await client.get(resource)).Boot as RedfishBody | undefined;
  const target = stringOrNull(after?.BootSourceOverrideTarget);
  const enabled = stringOrNull(after?.BootSourceOverrideEnabled);
  requests.push(`GET ${resource}: BootSourceOverrideTarget ${target ?? '(none)'}, BootSourceOverrideEnabled ${enabled ?? '(none)'}`);
  if (target !== bootTarget || enabled !== 'Once') {
    throw new BmcActionError(
      `the BMC accepted the one-time ${name} boot override but did not keep it: ${resource} reads back BootSourceOverrideTarget ${target ?? '(none)'}, BootSourceOverrideEnabled ${enabled ?? '(none)'}`,
    );
  }
  return { resource, requests };
}

/**
 * The reset types that bring a system from `powerState` to what `action` wants, among
 * those it allows (docs/redfish.md §9): On (else ForceOn) from Off; ForceOff to stop; ForceRestart
 * (else PowerCycle, else ForceOff then On) to restart a running host. Empty: nothing to do.
 */
export function resetPlan(action: PowerAction, powerState: string | null, allowed: string[] | null): string[] {
  const may = (type: string) => allowed === null || allowed.includes(type);
  const first = (...types: string[]) => types.find(may);
  const isOn = powerState === 'On' || powerState === 'PoweringOn';
  const isOff = powerState === 'Off' || powerState === 'PoweringOff';
  const powerOn = () => {
    const type = first('On', 'ForceOn', 'PushPowerButton');
    if (type === undefined) throw new BmcActionError(`the BMC allows no reset type that powers on (it allows ${allowed!.join(', ')})`);
    return [type];
  };
  const powerOff = () => {
    const type = first('ForceOff', 'GracefulShutdown', 'PushPowerButton');
    if (type === undefined) throw new BmcActionError(`the BMC allows no reset type that powers off (it allows ${allowed!.join(', ')})`);
    return [type];
  };
  switch (action) {
    case 'on':
      return isOn ? [] : powerOn();
    case 'off':
      return isOff ? [] : powerOff();
    case 'cycle': {
      if (isOff) return powerOn();
      const restart = first('ForceRestart', 'PowerCycle');
      return restart !== undefined ? [restart] : [...powerOff(), ...powerOn()];
    }
  }
}

export interface ResetResult {
  resetTypes: string[];
  powerState: string | null;
  requests: string[];
}

/** Carries out resetPlan: each reset POSTed without If-Match (iDRAC 10 refuses it on actions), then PowerState polled until it settles. */
export async function resetSystem(
  client: RedfishClient,
  control: SystemControl,
  action: PowerAction,
  options: Partial<ControlOptions> & { signal?: AbortSignal } = {},
): Promise<ResetResult> {
  const settings = { ...CONTROL_DEFAULTS, ...options };
  const plan = resetPlan(action, control.powerState, control.resetTypes);
  const requests: string[] = [];
  let powerState = control.powerState;
  for (const type of plan) {
    requests.push(`POST ${control.resetTarget} {"ResetType":"${type}"}`);
    const reply = await client.call('POST', control.resetTarget, { ResetType: type });
    // Already in the wanted state: some BMCs answer 400 or 409 (Ironic treats it as done).
    if (!ok(reply) && reply.status !== 202 && !((reply.status === 400 || reply.status === 409) && /already/i.test(reply.message))) {
      throw new BmcActionError(`the BMC refused ResetType ${type}: ${reply.message}`);
    }
    const wanted = type === 'ForceOff' || type === 'GracefulShutdown' || (type === 'PushPowerButton' && powerState === 'On') ? 'Off' : 'On';
    powerState = await settle(client, control.path, wanted, settings);
  }
  return { resetTypes: plan, powerState, requests };
}

/** Polls PowerState until it reads `wanted`, or fails after settleMs with the last value read. */
async function settle(
  client: RedfishClient,
  path: string,
  wanted: string,
  settings: ControlOptions & { signal?: AbortSignal },
): Promise<string | null> {
  const deadline = Date.now() + settings.settleMs;
  let last: string | null = null;
  for (;;) {
    last = stringOrNull((await client.get(path)).PowerState);
    if (last === wanted) return last;
    if (Date.now() > deadline)
      throw new BmcActionError(
        `the BMC accepted the reset, but PowerState is ${last ?? '(none)'} and not ${wanted} after ${settings.settleMs / 1000} s`,
      );
    await sleep(settings.pollMs, settings.signal);
  }
}

/** The current ETag of a resource: the header, else @odata.etag. */
async function freshEtag(client: RedfishClient, path: string): Promise<string | null> {
  const body = await client.get(path);
  return client.etags.get(normalizePath(path)) ?? (typeof body['@odata.etag'] === 'string' ? body['@odata.etag'] : null);
}

export const ok = (reply: RedfishReply) => reply.status >= 200 && reply.status < 300;
/** Whether the BMC's refusal names any of `words` (a message id, a property), in its message or its body. */
export const says = (reply: RedfishReply, ...words: string[]) =>
  words.some((word) => reply.message.includes(word) || JSON.stringify(reply.body ?? {}).includes(word));

export function strings(value: unknown): string[] | null {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
