import { RedfishClient, type RedfishBody, type RedfishOptions } from '../redfish/client.js';
import type { BmcRecord, Credential, Store } from '../store/index.js';
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
 * Redfish sessions with a machine's BMC, as stored: its address, scheme, port, pinned
 * certificate and credentials (stored ones, else the defaults for its MAC prefix).
 * Onboarding and provisioning both open them here.
 */
export class BmcSessions {
  constructor(
    private readonly store: Store,
    private readonly defaults: DefaultCredentials,
    private readonly redfish: Partial<RedfishOptions>,
  ) {}

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
