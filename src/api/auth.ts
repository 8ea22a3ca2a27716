import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The token rule: reading the inventory is open to the provisioning network, every
 * request that changes something needs `Authorization: Bearer <token>`. Applied to all
 * routes registered in the scope, so a mutating route cannot be added unprotected.
 */
export function requireTokenForChanges(app: FastifyInstance, token: string): void {
  const expected = digest(token);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (READ_METHODS.has(request.method)) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // Compare digests of equal length, in constant time, so timing reveals nothing.
    if (match && timingSafeEqual(digest(match[1]!), expected)) return;
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="metalbox"')
      .send({
        statusCode: 401,
        code: 'E_UNAUTHORIZED',
        error: 'Unauthorized',
        message: match ? 'wrong API token' : 'this request changes state: send Authorization: Bearer <token> (the api-token file of the data dir, or METALBOX_TOKEN)',
      });
  });
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
