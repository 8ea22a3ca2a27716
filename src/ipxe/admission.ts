import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LogLimiter } from '../lib/log-limiter.js';
import type { MachineTrust, TokenScope } from '../netboot/machine-trust.js';
import { textReply } from './http-files.js';

/** What each door is called in the log, and the one answer a refused request gets. */
const DOORS: Record<TokenScope, { logged: string; answer: string }> = {
  callback: {
    logged: 'installer callback refused',
    answer: 'callback refused: not installing, wrong token, or not sent from this machine',
  },
  agent: {
    logged: 'agent request refused',
    answer: 'agent request refused: no operation under way, wrong token, or not sent from this machine',
  },
  metadata: {
    logged: 'metadata request refused',
    answer: 'metadata refused: no operation under way, wrong token, or not sent from this machine',
  },
};

/**
 * The token rule at the door of every route a machine calls under its operation (its
 * installer's callback, its agent, its metadata files): admitted, the operation's id.
 * Refused, null, with the 403 sent: one answer for every refusal (which check failed is
 * for the log, at most once a minute per client, not for a prober), and nothing changed.
 */
export function admitMachine(
  trust: MachineTrust,
  complaints: LogLimiter,
  scope: TokenScope,
  request: FastifyRequest<{ Params: { machineId: string; token: string } }>,
  reply: FastifyReply,
): string | null {
  const { machineId, token } = request.params;
  const admission = trust.admit(scope, machineId, token, request.ip);
  if (admission.admitted) return admission.operationId;
  const door = DOORS[scope];
  complaints.warn(`${scope}-refused|${request.ip}`, { machineId, from: request.ip, reason: admission.reason }, door.logged);
  void textReply(reply, 403, `${door.answer}\n`);
  return null;
}
