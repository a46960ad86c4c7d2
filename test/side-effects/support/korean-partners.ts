import { createVerify, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { type ReceivedRequest, Receiver } from './receiver.ts'

/**
 * NHN Cloud on loopback, speaking its formats: KakaoTalk Bizmessage AlimTalk v2.3
 * (`/alimtalk/v2.3/appkeys/{appkey}/messages`) and SMS v3.0 (`/sms/v3.0/appKeys/{appKey}/sender/{sms|mms|auth/sms}`),
 * both with `X-Secret-Key` and an HTTP 200 whose `header.isSuccessful` says whether the message was taken. Numbers in
 * `blocked` are refused per recipient, as the real service does for a number that blocks the sender.
 */
export async function startNhnCloud(options: { appKey: string; secretKey: string; blocked?: Set<string> }) {
  const blocked = options.blocked ?? new Set<string>()
  return Receiver.start({
    respond(r: ReceivedRequest) {
      const header = (ok: boolean, code = 0, message = 'SUCCESS') => ({
        isSuccessful: ok,
        resultCode: code,
        resultMessage: message,
      })
      if (r.headers['x-secret-key'] !== options.secretKey) {
        return { status: 200, body: { header: header(false, -1000, 'Invalid secret key') } }
      }
      const recipients = (r.body?.recipientList ?? []) as { recipientNo: string }[]
      const results = recipients.map((x, i) => ({
        recipientSeq: i + 1,
        recipientNo: x.recipientNo,
        resultCode: blocked.has(x.recipientNo) ? -2001 : 0,
        resultMessage: blocked.has(x.recipientNo) ? 'blocked recipient' : 'SUCCESS',
      }))
      if (r.path === `/alimtalk/v2.3/appkeys/${options.appKey}/messages`) {
        return {
          status: 200,
          body: { header: header(true), message: { requestId: `req-${Date.now()}`, sendResults: results } },
        }
      }
      if (/^\/sms\/v3\.0\/appKeys\/[^/]+\/sender\/(sms|mms|auth\/sms)$/.test(r.path)) {
        return {
          status: 200,
          body: {
            header: header(true),
            body: { data: { requestId: `req-${Date.now()}`, statusCode: '2', sendResultList: results } },
          },
        }
      }
      return { status: 404, body: { header: header(false, -404, 'no such API') } }
    },
  })
}

/** A service-account key as Google issues it, with its token URI pointing where the test says. */
export function serviceAccountKey(tokenUri: string): { json: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const json = JSON.stringify({
    type: 'service_account',
    project_id: 'ticketing-test',
    private_key_id: 'key-1',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: 'fcm-sender@ticketing-test.iam.gserviceaccount.com',
    client_id: '1',
    token_uri: tokenUri,
  })
  return { json, publicKey }
}

/**
 * Google's OAuth2 token endpoint and FCM HTTP v1 on loopback: `/token` checks the JWT bearer assertion's RS256
 * signature and claims before it issues an access token; `/v1/projects/{project}/messages:send` wants that token and
 * answers 404 UNREGISTERED for a device token in `unregistered`, and 503 to the first `failFirst` sends.
 */
export async function startGoogle(options: { unregistered: Set<string>; failFirst?: number }) {
  let issued = 0
  let sends = 0
  const tokens = new Set<string>()
  const state: { publicKey?: KeyObject; tokenUri?: string } = {}
  const receiver = await Receiver.start({
    respond(r: ReceivedRequest) {
      if (r.path === '/token') {
        const form = new URLSearchParams(r.raw)
        const assertion = form.get('assertion') ?? ''
        const [h, c, s] = assertion.split('.')
        const claims = JSON.parse(Buffer.from(c ?? '', 'base64url').toString()) as Record<string, unknown>
        const signed = createVerify('RSA-SHA256')
          .update(`${h}.${c}`)
          .verify(state.publicKey!, Buffer.from(s ?? '', 'base64url'))
        const now = Date.now() / 1000
        const valid =
          form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' &&
          signed &&
          claims.aud === state.tokenUri &&
          claims.scope === 'https://www.googleapis.com/auth/firebase.messaging' &&
          typeof claims.exp === 'number' &&
          claims.exp > now
        if (!valid) return { status: 400, body: { error: 'invalid_grant' } }
        const token = `ya29.test-${++issued}`
        tokens.add(token)
        return { status: 200, body: { access_token: token, expires_in: 3599, token_type: 'Bearer' } }
      }
      if (r.path === '/v1/projects/ticketing-test/messages:send') {
        const bearer = String(r.headers.authorization ?? '').replace(/^Bearer /, '')
        if (!tokens.has(bearer))
          return { status: 401, body: { error: { code: 401, status: 'UNAUTHENTICATED' } } }
        if (sends++ < (options.failFirst ?? 0)) {
          return { status: 503, body: { error: { code: 503, status: 'UNAVAILABLE' } } }
        }
        const device = r.body?.message?.token as string
        if (options.unregistered.has(device)) {
          return {
            status: 404,
            body: {
              error: {
                code: 404,
                message: 'Requested entity was not found.',
                status: 'NOT_FOUND',
                details: [
                  {
                    '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError',
                    errorCode: 'UNREGISTERED',
                  },
                ],
              },
            },
          }
        }
        return { status: 200, body: { name: `projects/ticketing-test/messages/${sends}` } }
      }
      return { status: 404, body: {} }
    },
  })
  return {
    receiver,
    get issued() {
      return issued
    },
    /** Completes the setup once the key exists (it names this server's token URL). */
    trust(publicKey: KeyObject) {
      state.publicKey = publicKey
      state.tokenUri = receiver.url('/token')
    },
  }
}
