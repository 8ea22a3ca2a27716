import { randomBytes } from 'node:crypto';
import { normalizeMac } from './mac.js';

/**
 * A machine is referred to by its id, its BMC's MAC or any of its NIC MACs. Ids carry a
 * prefix and letters outside hex so that no id can be mistaken for a bare 12-digit MAC.
 */
const ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32: no i, l, o, u
const ID_PATTERN = /^m-[0-9abcdefghjkmnpqrstvwxyz]{12}$/;

export type MachineRef = { kind: 'id'; id: string } | { kind: 'mac'; mac: string };

export function newMachineId(): string {
  const bytes = randomBytes(12);
  let id = 'm-';
  for (const byte of bytes) id += ID_ALPHABET[byte & 31];
  return id;
}

/** A new operation id: what an installer's callback and an agent's token are bound to. */
export function newOperationId(): string {
  return `op-${randomBytes(6).toString('hex')}`;
}

/** Parses what an operator typed; null when it is neither a machine id nor a MAC. */
export function parseMachineRef(input: string): MachineRef | null {
  const text = input.trim().toLowerCase();
  if (ID_PATTERN.test(text)) return { kind: 'id', id: text };
  const mac = normalizeMac(text);
  return mac === null ? null : { kind: 'mac', mac };
}
