/**
 * The throw-away CA (src/tls): issued chains are accepted by Node's own TLS and X509Certificate
 * (and by OpenSSL: test/integration/tls/openssl-reads-certificates.test.ts), subjectAltNames and
 * client identities are encoded as peers read them, also at the size limits, names are written
 * as given, lifetimes are bounded, and a certificate from another CA is refused in both
 * directions of a real TLS handshake.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls';
import { before, describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { TLS_DEFAULT_VALIDITY_MS, TLS_NOT_BEFORE_BACKDATE_MS, TLS_SERIAL_BYTES } from '../../../src/limits.js';
import { CertificateAuthority } from '../../../src/tls/index.js';
import type { IssuedCertificate } from '../../../src/tls/index.js';

const HANDSHAKE_TIMEOUT_MS = 5_000;

interface HandshakeResult {
  /** The client's verdict on the server certificate: undefined when accepted. */
  readonly clientError: Error | undefined;
  /** The server's verdict on the client certificate. */
  readonly serverAuthorized: boolean | undefined;
  readonly serverAuthorizationError: string | undefined;
  readonly peerSubject: string | undefined;
}

/** One real TLS handshake on 127.0.0.1 with the given server and client options. */
async function handshake(serverOptions: TlsOptions, clientOptions: ConnectionOptions): Promise<HandshakeResult> {
  let serverSide: Omit<HandshakeResult, 'clientError'> = {
    serverAuthorized: undefined,
    serverAuthorizationError: undefined,
    peerSubject: undefined,
  };
  const server = createServer(serverOptions, (socket: TLSSocket) => {
    const peer = socket.getPeerX509Certificate();
    serverSide = {
      serverAuthorized: socket.authorized,
      serverAuthorizationError: socket.authorizationError?.toString(),
      peerSubject: peer?.subject,
    };
    socket.end('ok');
  });
  server.on('tlsClientError', () => undefined); // the client's refusal shows up on the client side
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const clientError = await new Promise<Error | undefined>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ...clientOptions });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(new Error('handshake timed out'));
      }, HANDSHAKE_TIMEOUT_MS);
      socket.on('secureConnect', () => socket.resume());
      socket.on('end', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      socket.on('error', (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(err);
      });
    });
    return { clientError, ...serverSide };
  } finally {
    server.close();
  }
}

describe('CertificateAuthority', () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let server: IssuedCertificate;
  let client: IssuedCertificate;

  before(async () => {
    ca = await CertificateAuthority.create({ commonName: 'kubepair test CA' });
    otherCa = await CertificateAuthority.create({ commonName: 'kubepair test CA' }); // same name, other key
    server = await ca.issueServerCertificate({ dnsNames: ['kubernetes', 'kubernetes.default.svc'], ipAddresses: ['127.0.0.1', '::1'] });
    client = await ca.issueClientCertificate({ user: 'alice', groups: ['devs', 'system:authenticated'] });
  });

  it('makes a self-signed CA certificate with basicConstraints CA and a short default lifetime', () => {
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, 'CN=kubepair test CA');
    assert.equal(cert.issuer, cert.subject);
    assert.ok(cert.verify(cert.publicKey), 'self-signed signature verifies');
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const lifetime = new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime();
    // validFrom/validTo have one-second resolution.
    assert.ok(Math.abs(lifetime - (TLS_DEFAULT_VALIDITY_MS + TLS_NOT_BEFORE_BACKDATE_MS)) <= 2_000, `lifetime ${lifetime}`);
    assert.ok(!ca.certPem.includes('PRIVATE KEY'));
    assert.ok(!JSON.stringify(ca).includes('PRIVATE KEY'), 'the CA object exposes no private key');
  });

  it('issues a server certificate that chains to the CA and names exactly the requested SANs', () => {
    const cert = new X509Certificate(server.certPem);
    const caCert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(caCert), 'issuer matches the CA subject');
    assert.ok(cert.verify(caCert.publicKey), 'signed by the CA key');
    assert.equal(cert.subjectAltName, 'DNS:kubernetes, DNS:kubernetes.default.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'EKU serverAuth only');
    assert.equal(cert.checkHost('kubernetes'), 'kubernetes');
    assert.equal(cert.checkHost('kubernetes.default'), undefined);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('127.0.0.2'), undefined);
    assert.equal(cert.serialNumber.toLowerCase(), server.serialNumber);
    assert.ok(new X509Certificate(client.certPem).checkIssued(caCert));
  });

  it('returns a PKCS #8 P-256 private key matching the certificate', () => {
    assert.match(server.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const fromKey = createPublicKey(server.keyPem).export({ format: 'der', type: 'spki' });
    const fromCert = new X509Certificate(server.certPem).publicKey.export({ format: 'der', type: 'spki' });
    assert.deepEqual(fromKey, fromCert);
  });

  it('encodes a client identity as CN = user and one O per group, with EKU clientAuth', () => {
    const cert = new X509Certificate(client.certPem);
    assert.equal(cert.subject, 'CN=alice\nO=devs\nO=system:authenticated');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(cert.subjectAltName, undefined);
  });

  it('keeps user names with DN metacharacters intact instead of parsing them', async () => {
    const issued = await ca.issueClientCertificate({ user: 'eve, O=system:masters', groups: ['a+b=c'] });
    const subject = { ...new X509Certificate(issued.certPem).toLegacyObject().subject };
    assert.deepEqual(subject, { CN: 'eve, O=system:masters', O: 'a+b=c' });
  });

  it('draws a fresh positive serial of TLS_SERIAL_BYTES bytes for every certificate', async () => {
    const serials = new Set<string>([server.serialNumber, client.serialNumber]);
    for (let i = 0; i < 8; i++) serials.add((await ca.issueClientCertificate({ user: `u${i}` })).serialNumber);
    assert.equal(serials.size, 10);
    for (const serial of serials) {
      assert.match(serial, new RegExp(`^[0-9a-f]{${TLS_SERIAL_BYTES * 2}}$`), serial);
      assert.ok(Number.parseInt(serial.slice(0, 2), 16) < 0x80, `positive serial ${serial}`);
      assert.notEqual(serial.slice(0, 2), '00', `minimal DER ${serial}`);
    }
  });

  it('never lets a leaf outlive its CA', async () => {
    const shortCa = await CertificateAuthority.create({ commonName: 'short', validityMs: 60_000 });
    const leaf = await shortCa.issueServerCertificate({ dnsNames: ['kubernetes'], validityMs: 3_600_000 });
    assert.ok(leaf.notAfter.getTime() <= shortCa.notAfter.getTime());
    assert.ok(leaf.notBefore.getTime() >= shortCa.notBefore.getTime());
  });

  it('completes a mutual TLS handshake: the client trusts the server by name, the server reads the client identity', async () => {
    const result = await handshake(
      { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false },
      { ca: ca.certPem, servername: 'kubernetes', cert: client.certPem, key: client.keyPem },
    );
    assert.equal(result.clientError, undefined);
    assert.equal(result.serverAuthorized, true, result.serverAuthorizationError);
    assert.equal(result.peerSubject, 'CN=alice\nO=devs\nO=system:authenticated');
  });

  it('connects by IP address when the certificate names that IP', async () => {
    const result = await handshake({ cert: server.certPem, key: server.keyPem }, { ca: ca.certPem });
    assert.equal(result.clientError, undefined);
  });

  it('encodes names at the size limits: a 128-character CN of two-byte characters, 32 groups, 32 SANs', async () => {
    const user = 'é'.repeat(128); // 256 octets of UTF-8: a length in two octets
    const groups = Array.from({ length: 32 }, (_, i) => `group-${i}-${'g'.repeat(100)}`);
    const issued = await ca.issueClientCertificate({ user, groups });
    const cert = new X509Certificate(issued.certPem);
    assert.equal(cert.subject, [`CN=${user}`, ...groups.map((group) => `O=${group}`)].join('\n'));
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
    const dnsNames = Array.from({ length: 24 }, (_, i) => `host-${i}.${'d'.repeat(60)}.example`);
    const ipAddresses = Array.from({ length: 8 }, (_, i) => `2001:db8::${i + 1}`);
    const wide = await ca.issueServerCertificate({ dnsNames, ipAddresses });
    const wideCert = new X509Certificate(wide.certPem);
    for (const name of dnsNames) assert.equal(wideCert.checkHost(name), name);
    for (const ip of ipAddresses) assert.equal(wideCert.checkIP(ip), ip);
  });

  it('writes names as given: backslashes, quotes and a leading # are not DN syntax', async () => {
    const issued = await ca.issueClientCertificate({ user: '#41', groups: ['back\\slash', '"quoted"', 'a\\,b'] });
    const subject = { ...new X509Certificate(issued.certPem).toLegacyObject().subject };
    assert.deepEqual(subject, { CN: '#41', O: ['back\\slash', '"quoted"', 'a\\,b'] });
  });

  describe('Security: certificates outside the chain or the names are refused', () => {
    it('a client trusting another CA (with the same name) rejects the server certificate', async () => {
      const result = await handshake({ cert: server.certPem, key: server.keyPem }, { ca: otherCa.certPem, servername: 'kubernetes' });
      assert.ok(result.clientError, 'handshake must fail');
      assert.equal((result.clientError as NodeJS.ErrnoException).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });

    it('a server trusting this CA does not authorize a client certificate from another CA', async () => {
      const stranger = await otherCa.issueClientCertificate({ user: 'alice', groups: ['system:masters'] });
      const result = await handshake(
        { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false },
        { ca: ca.certPem, servername: 'kubernetes', cert: stranger.certPem, key: stranger.keyPem },
      );
      assert.equal(result.serverAuthorized, false);
      assert.match(result.serverAuthorizationError ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/i);
    });

    it('a client asking for a name the certificate does not carry rejects it', async () => {
      const result = await handshake({ cert: server.certPem, key: server.keyPem }, { ca: ca.certPem, servername: 'localhost' });
      assert.equal((result.clientError as NodeJS.ErrnoException)?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    });

    it('a server certificate is not accepted as a client certificate (EKU)', async () => {
      const result = await handshake(
        { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false },
        { ca: ca.certPem, servername: 'kubernetes', cert: server.certPem, key: server.keyPem },
      );
      assert.equal(result.serverAuthorized, false);
      assert.match(result.serverAuthorizationError ?? '', /UNSUPPORTED_CERTIFICATE_PURPOSE|purpose/i);
    });

    it('a leaf cannot act as a CA for another certificate (basicConstraints CA:false)', () => {
      const leaf = new X509Certificate(server.certPem);
      const sibling = new X509Certificate(client.certPem);
      assert.equal(leaf.ca, false);
      assert.equal(sibling.checkIssued(leaf), false);
    });
  });

  describe('bad requests fail with KP_ERR_TLS_INVALID_REQUEST before any key is made', () => {
    const serverCases: Array<[string, Parameters<CertificateAuthority['issueServerCertificate']>[0]]> = [
      ['no subjectAltName', {}],
      ['empty lists', { dnsNames: [], ipAddresses: [] }],
      ['wildcard DNS name', { dnsNames: ['*.example.com'] }],
      ['IP as DNS name', { dnsNames: ['127.0.0.1'] }],
      ['underscore', { dnsNames: ['bad_name'] }],
      ['trailing dot', { dnsNames: ['kubernetes.'] }],
      ['label too long', { dnsNames: [`${'a'.repeat(64)}.example`] }],
      ['leading hyphen', { dnsNames: ['-kubernetes'] }],
      ['newline in DNS name', { dnsNames: ['kubernetes\nevil'] }],
      ['duplicate DNS name', { dnsNames: ['kubernetes', 'KUBERNETES'] }],
      ['not an IP', { ipAddresses: ['localhost'] }],
      ['IP with zone', { ipAddresses: ['fe80::1%eth0'] }],
      ['too many names', { dnsNames: Array.from({ length: 33 }, (_, i) => `h${i}.example`) }],
      ['zero validity', { dnsNames: ['kubernetes'], validityMs: 0 }],
      ['fractional validity', { dnsNames: ['kubernetes'], validityMs: 1.5 }],
      ['validity above the maximum', { dnsNames: ['kubernetes'], validityMs: 8 * 24 * 3_600_000 }],
      ['control character in CN', { dnsNames: ['kubernetes'], commonName: 'a\u0000b' }],
      ['dnsNames not an array', { dnsNames: 'kubernetes' as unknown as string[] }],
    ];
    for (const [name, options] of serverCases) {
      it(`server certificate: ${name}`, async () => {
        await assert.rejects(ca.issueServerCertificate(options), (err) => isKubepairError(err, 'KP_ERR_TLS_INVALID_REQUEST'));
      });
    }

    const clientCases: Array<[string, Parameters<CertificateAuthority['issueClientCertificate']>[0]]> = [
      ['empty user', { user: '' }],
      ['user not a string', { user: 42 as unknown as string }],
      ['user too long', { user: 'u'.repeat(129) }],
      ['user with newline', { user: 'alice\nO=system:masters' }],
      ['user with DEL', { user: 'alice\u007f' }],
      ['user with lone surrogate', { user: 'alice\ud800' }],
      ['user with surrounding space', { user: ' alice' }],
      ['empty group', { user: 'alice', groups: [''] }],
      ['duplicate group', { user: 'alice', groups: ['devs', 'devs'] }],
      ['too many groups', { user: 'alice', groups: Array.from({ length: 33 }, (_, i) => `g${i}`) }],
    ];
    for (const [name, options] of clientCases) {
      it(`client certificate: ${name}`, async () => {
        await assert.rejects(ca.issueClientCertificate(options), (err) => isKubepairError(err, 'KP_ERR_TLS_INVALID_REQUEST'));
      });
    }

    it('CA: empty common name and excessive validity', async () => {
      await assert.rejects(CertificateAuthority.create({ commonName: '' }), (err) => isKubepairError(err, 'KP_ERR_TLS_INVALID_REQUEST'));
      await assert.rejects(CertificateAuthority.create({ commonName: 'x', validityMs: -1 }), (err) =>
        isKubepairError(err, 'KP_ERR_TLS_INVALID_REQUEST'),
      );
    });

    it('the error message names the option and the value', async () => {
      await assert.rejects(ca.issueServerCertificate({ dnsNames: ['ok.example', 'bad_name'] }), (err) => {
        assert.ok(isKubepairError(err, 'KP_ERR_TLS_INVALID_REQUEST'));
        assert.match(err.message, /^invalid certificate request: dnsNames\[1\] "bad_name" is not a valid DNS name/);
        return true;
      });
    });
  });
});
