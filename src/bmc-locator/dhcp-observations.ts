import type { ObservationJson } from '../store/index.js';
import type { Finding, Resolver } from './locator.js';

/**
 * What DHCP snooping saw: a BMC asking the site's DHCP server for an address (option 50 of
 * its REQUEST, or ciaddr when renewing) gives the address it holds. Newest first.
 */
export class DhcpObservationResolver implements Resolver {
  readonly name = 'dhcp-observations';
  readonly passive = true;

  constructor(private readonly observations: (mac: string) => ObservationJson[]) {}

  async find(mac: string): Promise<Finding> {
    const now = Date.now();
    const seen = this.observations(mac).filter((observation) => observation.ip !== null);
    const candidates = [...new Map(seen.map((observation) => [observation.ip!, observation])).values()].map((observation) => ({
      ip: observation.ip!,
      source: this.name,
      ageSeconds: Math.max(0, (now - Date.parse(observation.lastSeen)) / 1000),
    }));
    return { candidates, note: 'no DHCP request from this MAC seen' };
  }
}
