import { link, normalizePath, type RedfishBody, type RedfishClient, type RedfishReply } from './client.js';
import { BmcActionError, type BmcVendor, ok, says, strings } from './power.js';

/**
 * Virtual media through Redfish: a boot ISO given to the BMC by URL, as Ironic's
 * redfish-virtual-media boot and Tinkerbell's rufio do, with the vendor differences kept
 * here (docs/redfish.md, Virtual media):
 *  - where the drives are: the ComputerSystem's VirtualMedia (DMTF's newer mockups, iDRAC
 *    from firmware 6) or that of a Manager that manages it (iLO, older iDRAC, AMI MegaRAC);
 *  - which drive: the one whose MediaTypes list CD or DVD (iLO 5's first member is its
 *    Floppy/USBStick); AMI MegaRAC lists no MediaTypes, so its CD is told by its Id or name;
 *  - how: the InsertMedia action, or a PATCH of Image and Inserted where the drive has no
 *    action (DMTF's mockups, iLO 4);
 *  - what the action takes: Image, Inserted and WriteProtected, and TransferProtocolType
 *    only where the BMC lists its allowed values (iDRAC) or requires it without saying
 *    (AMI MegaRAC). A BMC that refuses a parameter it does not support (400 with
 *    ActionParameterNotSupported or PropertyUnknown, as Supermicro X11 and iLO 5 do with
 *    some of them) is asked again with the Image alone, as sushy does;
 *  - a drive holding another image is ejected first: iDRAC refuses an insert over one.
 * Every insert is read back: the drive must say Inserted with metalbox's image.
 */

export interface VirtualMediaDrive {
  path: string;
  inserted: boolean;
  image: string | null;
  insertTarget: string | null;
  ejectTarget: string | null;
  /** TransferProtocolType@Redfish.AllowableValues of the insert action, when listed. */
  protocols: string[] | null;
}

export interface MediaResult {
  drive: string;
  /** One line per request sent, for the machine's timeline. */
  requests: string[];
}

/** The virtual CD/DVD drive of the system at `systemPath`. */
export async function findVirtualCd(client: RedfishClient, systemPath: string): Promise<VirtualMediaDrive> {
  const system = await client.get(systemPath);
  const collections = [link(system.VirtualMedia)];
  const managers = (((system.Links ?? {}) as RedfishBody).ManagedBy ?? []) as unknown[];
  for (const manager of Array.isArray(managers) ? managers : []) {
    const path = link(manager);
    if (path === null) continue;
    collections.push(link((await client.get(path).catch(() => ({}) as RedfishBody)).VirtualMedia));
  }
  const looked: string[] = [];
  for (const collection of collections) {
    if (collection === null) continue;
    looked.push(collection);
    const members = ((await client.get(collection)).Members ?? []) as unknown[];
    const drives: RedfishBody[] = [];
    for (const member of Array.isArray(members) ? members : []) {
      const path = link(member);
      if (path !== null) drives.push(await client.get(path));
    }
    const cd =
      drives.find((drive) => strings(drive.MediaTypes)?.some((type) => type === 'CD' || type === 'DVD')) ??
      // AMI MegaRAC lists no MediaTypes: its CD is named so.
      drives.find((drive) => drive.MediaTypes === undefined && /\bcd|dvd/i.test(`${String(drive.Id ?? '')} ${String(drive.Name ?? '')}`));
    if (cd !== undefined) return driveOf(cd);
  }
  throw new BmcActionError(
    `the BMC has no virtual CD/DVD drive${looked.length > 0 ? ` (looked in ${looked.join(', ')})` : ' (neither the system nor its managers list VirtualMedia)'}`,
  );
}

function driveOf(body: RedfishBody): VirtualMediaDrive {
  const actions = (body.Actions ?? {}) as RedfishBody;
  const insert = (actions['#VirtualMedia.InsertMedia'] ?? null) as RedfishBody | null;
  const eject = (actions['#VirtualMedia.EjectMedia'] ?? null) as RedfishBody | null;
  const image = typeof body.Image === 'string' && body.Image !== '' && body.Image !== 'None' ? body.Image : null;
  return {
    path: normalizePath(String(body['@odata.id'])),
    inserted: body.Inserted === true,
    image,
    insertTarget: typeof insert?.target === 'string' ? insert.target : null,
    ejectTarget: typeof eject?.target === 'string' ? eject.target : null,
    protocols: strings(insert?.['TransferProtocolType@Redfish.AllowableValues']),
  };
}

/** Puts `image` (an http:// URL the BMC can fetch) in the drive, after ejecting what it held, and reads it back. */
export async function insertVirtualMedia(
  client: RedfishClient,
  drive: VirtualMediaDrive,
  image: string,
  vendor: BmcVendor,
): Promise<MediaResult> {
  const requests: string[] = [];
  if (drive.inserted || drive.image !== null) requests.push(...(await ejectVirtualMedia(client, drive)).requests);
  const protocol = image.startsWith('https:') ? 'HTTPS' : 'HTTP';
  const needsProtocol = drive.protocols !== null ? drive.protocols.includes(protocol) : vendor === 'ami';
  const full: RedfishBody = {
    Image: image,
    Inserted: true,
    WriteProtected: true,
    ...(needsProtocol ? { TransferProtocolType: protocol } : {}),
  };
  const send = async (body: RedfishBody): Promise<RedfishReply> => {
    const [method, path] = drive.insertTarget !== null ? (['POST', drive.insertTarget] as const) : (['PATCH', drive.path] as const);
    requests.push(`${method} ${path} ${JSON.stringify(body).replace(image, '<image URL>')}`);
    return client.call(method, path, body);
  };
  let reply = await send(full);
  if (!ok(reply) && reply.status === 400 && says(reply, 'ActionParameterNotSupported', 'PropertyUnknown', 'PropertyNotWritable')) {
    // A parameter this BMC does not take: the Image alone (and the protocol, where it asked for one).
    reply = await send({ Image: image, ...(needsProtocol ? { TransferProtocolType: protocol } : {}) });
  }
  if (!ok(reply)) throw new BmcActionError(`the BMC refused the virtual media image: ${reply.message}`);
  const after = await client.get(drive.path);
  requests.push(
    `GET ${drive.path}: Inserted ${String(after.Inserted)}, Image ${after.Image === image ? '<image URL>' : JSON.stringify(after.Image)}`,
  );
  // Some BMCs leave Inserted out until the image is connected; the image itself must be there.
  if (after.Image !== image || after.Inserted === false)
    throw new BmcActionError(
      `the BMC accepted the virtual media image but does not hold it: ${drive.path} reads Inserted ${String(after.Inserted)}, Image ${JSON.stringify(after.Image)}`,
    );
  return { drive: drive.path, requests };
}

/** Empties the drive: the EjectMedia action, or a PATCH where it has none. */
export async function ejectVirtualMedia(client: RedfishClient, drive: VirtualMediaDrive): Promise<MediaResult> {
  const requests: string[] = [];
  let reply: RedfishReply;
  if (drive.ejectTarget !== null) {
    requests.push(`POST ${drive.ejectTarget} {}`);
    reply = await client.call('POST', drive.ejectTarget, {});
  } else {
    const body = { Image: null, Inserted: false };
    requests.push(`PATCH ${drive.path} ${JSON.stringify(body)}`);
    reply = await client.call('PATCH', drive.path, body);
  }
  // Nothing in the drive: some BMCs answer 400 or 409, which is what was wanted.
  if (!ok(reply) && !((reply.status === 400 || reply.status === 409) && /not inserted|no media|already/i.test(reply.message)))
    throw new BmcActionError(`the BMC refused to eject the virtual media: ${reply.message}`);
  return { drive: drive.path, requests };
}
