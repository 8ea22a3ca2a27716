import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The token rule: every request in the scope, reads included, needs
 * `Authorization: Bearer <token>`. The inventory names every BMC, its address and each
 * machine's state; the provisioning network is not trusted with it. Applied to all routes
 * registered in the scope, so a route cannot be added unprotected. The routes booting
 * machines use (/boot.ipxe, /ipxe, /assets, /callback) and /healthz live outside it.
 */
export function requireToken(app: FastifyInstance, token: string, ...others: string[]): void {
  const expected = [token, ...others].map(digest);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // Compare digests of equal length, in constant time, so timing reveals nothing.
    if (match) {
      const given = digest(match[1]!);
      // Every token is compared, so timing does not tell which one was close either.
      if (expected.map((one) => timingSafeEqual(given, one)).includes(true)) return;
    }
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="metalbox"')
      .send({
        statusCode: 401,
        code: 'E_UNAUTHORIZED',
        error: 'Unauthorized',
        message: match
          ? 'wrong API token'
          : 'the API needs its token: send Authorization: Bearer <token> (the api-token file of the data dir, or METALBOX_TOKEN)',
      });
  });
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
