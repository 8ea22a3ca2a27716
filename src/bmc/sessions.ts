import { IpmiClient, type IpmiOptions } from '../ipmi/client.js';
import { MetalboxError } from '../lib/errors.js';
import { RedfishClient, type RedfishBody, type RedfishOptions } from '../redfish/client.js';
import type { ControlOptions } from '../redfish/power.js';
import type { BmcRecord, Credential, Store } from '../store/index.js';
import { type BootMode, ipmiControl, type MachineControl, redfishControl } from './control.js';
import type { DefaultCredentials } from './default-credentials.js';

/** Why no session could be opened before any request: the caller picks the machine's failure state. */
export class BmcSessionError extends Error {
  override readonly name = 'BmcSessionError';
  constructor(
    readonly reason: 'no-address' | 'no-credentials',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Sessions with a machine's BMC, as stored: its protocol, address, scheme, port, pinned
 * certificate and credentials (stored ones, else the defaults for its MAC prefix).
 * Onboarding and provisioning both open them here.
 */
export class BmcSessions {
  constructor(
    private readonly store: Store,
    private readonly defaults: DefaultCredentials,
    private readonly redfish: Partial<RedfishOptions>,
    private readonly ipmiOptions: Partial<IpmiOptions> = {},
  ) {}

  /** An IPMI client of the BMC for `work`; `signal` kills its ipmitool mid-command. */
  async ipmi<T>(bmc: BmcRecord, signal: AbortSignal, work: (client: IpmiClient) => Promise<T>): Promise<T> {
    if (bmc.ip === null) throw new BmcSessionError('no-address', `BMC ${bmc.mac} has no known address`);
    const credential = this.credentialOf(bmc);
    const client = new IpmiClient({ host: bmc.ip, port: bmc.port, ...credential }, this.ipmiOptions);
    const onAbort = () => client.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await work(client);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Power and one-time boot of a machine through its BMC, over the protocol the BMC was onboarded with. */
  async control<T>(
    bmc: BmcRecord,
    machineId: string,
    signal: AbortSignal,
    options: Partial<ControlOptions>,
    work: (control: MachineControl) => Promise<T>,
  ): Promise<T> {
    if (bmc.protocol === 'ipmi')
      return this.ipmi(bmc, signal, (client) => work(ipmiControl(client, this.bootModeOf(machineId), { ...options, signal })));
    const path = this.store.machines.systemPathOf(machineId);
    if (path === null || path.startsWith('#'))
      throw new MetalboxError('E_CONFLICT', `machine ${machineId} has no Redfish system recorded: onboard it again`);
    return this.with(bmc, signal, (client, root) => work(redfishControl(client, root, path, { ...options, signal })));
  }

  /**
   * How the machine boots, for IPMI's EFI flag: from the architecture its NICs' last PXE
   * requests gave (0 is BIOS, every other one UEFI); UEFI when none was seen, as servers
   * of the last decade ship.
   */
  bootModeOf(machineId: string): BootMode {
    const machine = this.store.machines.get(machineId);
    const seen = (machine?.nics ?? [])
      .flatMap((nic) => this.store.observations.list({ mac: nic.mac, limit: 20 }))
      .filter((observation) => observation.arch !== null)
      .sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
    return seen[0]?.arch === 0 ? 'Legacy' : 'UEFI';
  }

  /**
   * Logs in, runs `work`, and always logs out. Until then `signal` drops the connection at
   * once, mid-request, so a BMC that stalls cannot hold a step past its deadline.
   */
  async with<T>(bmc: BmcRecord, signal: AbortSignal, work: (client: RedfishClient, root: RedfishBody) => Promise<T>): Promise<T> {
    if (bmc.ip === null) throw new BmcSessionError('no-address', `BMC ${bmc.mac} has no known address`);
    const credential = this.credentialOf(bmc);
    const client = new RedfishClient(
      { host: bmc.ip, port: bmc.port, scheme: bmc.scheme, insecure: bmc.insecure, tlsFingerprint: bmc.tlsFingerprint },
      this.redfish,
    );
    const onAbort = () => client.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await work(client, await client.login(credential.username, credential.password));
    } finally {
      signal.removeEventListener('abort', onAbort);
      await client.close();
    }
  }

  #credentials(bmc: BmcRecord): Credential | null {
    const stored = bmc.credentialId === null ? null : this.store.credentials.read(bmc.credentialId);
    return stored ?? this.defaults.for(bmc.mac);
  }

  credentialOf(bmc: BmcRecord): Credential {
    const credential = this.#credentials(bmc);
    if (credential === null) {
      throw new BmcSessionError(
        'no-credentials',
        `no credentials for BMC ${bmc.mac}: onboard it with --username and --password-file, or add a bmc.credentials entry for its MAC prefix`,
      );
    }
    return credential;
  }
}
