// driver.mjs lets vaspd's Go interop tests drive the official UMA JS SDK
// (@uma-sdk/core, pinned in package.json).
//
// Protocol: one JSON request per line on stdin, {"id": n, "op": "...", "args": {...}};
// one JSON reply per line on stdout, {"id": n, "result": ...} or
// {"id": n, "error": "...", "code": "UMA_CODE"}. The process serves requests
// until stdin closes. Keys travel as hex; JSON messages travel as strings so
// that the bytes the SDK produced (or must parse) are exactly what the Go side
// sees. Only SDK entry points are used: the point is to test what a VASP built
// on this SDK would send and accept, bugs included.

import * as readline from "node:readline";
import {
  InMemoryNonceValidator,
  Currency,
  InvoiceSerializer,
  LnurlpResponse,
  PayReqResponse,
  PayRequest,
  PubKeyResponse,
  UnsupportedVersionError,
  createUmaInvoice,
  getLnurlpResponse,
  getPayReqResponse,
  getPayRequest,
  getPostTransactionCallback,
  getPubKeyResponse,
  getSignedLnurlpRequestUrl,
  isUmaLnurlpQuery,
  parseLnurlpRequest,
  parsePostTransactionCallback,
  selectHighestSupportedVersion,
  verifyPayReqResponseSignature,
  verifyPayReqSignature,
  verifyPostTransactionCallbackSignature,
  verifyUmaInvoiceSignature,
  verifyUmaLnurlpQuerySignature,
  verifyUmaLnurlpResponseSignature,
} from "@uma-sdk/core";
import { PublicKey as EciesPublicKey, decrypt as eciesDecrypt, encrypt as eciesEncrypt } from "eciesjs";

const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b) => Buffer.from(b).toString("hex");

// A validator that accepts any timestamp: replay protection is the receiving
// VASP's business, and here we only ask "does the SDK accept these bytes".
const freshNonces = () => new InMemoryNonceValidator(0);

const currencies = (list) =>
  (list ?? []).map(
    (c) =>
      new Currency(c.code, c.name, c.symbol, c.multiplier, c.min, c.max, c.decimals),
  );

const ops = {
  ping: async () => ({ node: process.version }),

  // --- LNURLP request -------------------------------------------------------
  signLnurlpRequest: async (a) => {
    const url = await getSignedLnurlpRequestUrl({
      signingPrivateKey: hex(a.privateKey),
      receiverAddress: a.receiverAddress,
      senderVaspDomain: a.senderVaspDomain,
      isSubjectToTravelRule: a.isSubjectToTravelRule,
      umaVersionOverride: a.umaVersion || undefined,
    });
    return { url: url.toString() };
  },
  verifyLnurlpRequest: async (a) => {
    const url = new URL(a.url);
    const isUma = isUmaLnurlpQuery(url);
    const req = parseLnurlpRequest(url);
    const pub = PubKeyResponse.fromJson(a.pubKeyResponse);
    const verified = await verifyUmaLnurlpQuerySignature(req, pub, freshNonces());
    return {
      verified,
      isUma,
      receiverAddress: req.receiverAddress,
      vaspDomain: req.vaspDomain,
      nonce: req.nonce,
      timestamp: req.timestamp ? Math.floor(req.timestamp.getTime() / 1000) : 0,
      umaVersion: req.umaVersion,
      isSubjectToTravelRule: req.isSubjectToTravelRule ?? false,
    };
  },

  // --- Version negotiation (UMAD-08) ---------------------------------------
  // The 412 body a JS receiver answers an unsupported version with.
  unsupportedVersionBody: async (a) => {
    try {
      parseLnurlpRequest(new URL(a.url));
    } catch (e) {
      if (e instanceof UnsupportedVersionError) return { json: e.toJSON() };
      throw e;
    }
    throw new Error("parseLnurlpRequest accepted the version");
  },
  // What a JS sender retries with after a 412 body.
  selectVersion: async (a) => ({
    version: selectHighestSupportedVersion(JSON.parse(a.json).supportedMajorVersions),
  }),

  // --- LNURLP response ------------------------------------------------------
  signLnurlpResponse: async (a) => {
    const request = parseLnurlpRequest(new URL(a.requestUrl));
    const resp = await getLnurlpResponse({
      request,
      privateKeyBytes: hex(a.privateKey),
      requiresTravelRuleInfo: a.requiresTravelRuleInfo,
      callback: a.callback,
      encodedMetadata: a.metadata,
      minSendableSats: a.minSendableSats,
      maxSendableSats: a.maxSendableSats,
      payerDataOptions: a.payerDataOptions,
      currencyOptions: currencies(a.currencies),
      receiverKycStatus: a.kycStatus,
      commentCharsAllowed: a.commentAllowed || undefined,
    });
    return { json: resp.toJsonString() };
  },
  verifyLnurlpResponse: async (a) => {
    const resp = LnurlpResponse.fromJson(a.json);
    const pub = PubKeyResponse.fromJson(a.pubKeyResponse);
    const verified = await verifyUmaLnurlpResponseSignature(resp, pub, freshNonces());
    return { verified, isUma: resp.isUma(), parsed: resp.toJsonSchemaObject() };
  },

  // --- PayRequest -----------------------------------------------------------
  signPayRequest: async (a) => {
    const req = await getPayRequest({
      amount: a.amount,
      receivingCurrencyCode: a.receivingCurrencyCode,
      isAmountInReceivingCurrency: a.isAmountInReceivingCurrency,
      receiverEncryptionPubKey: hex(a.receiverEncryptionPubKey),
      sendingVaspPrivateKey: hex(a.privateKey),
      payerIdentifier: a.payerIdentifier,
      payerName: a.payerName || undefined,
      payerEmail: a.payerEmail || undefined,
      trInfo: a.trInfo || undefined,
      travelRuleFormat: a.travelRuleFormat || undefined,
      payerKycStatus: a.kycStatus,
      payerUtxos: a.utxos ?? [],
      payerNodePubKey: a.nodePubKey || undefined,
      utxoCallback: a.utxoCallback ?? "",
      requestedPayeeData: a.requestedPayeeData,
      comment: a.comment || undefined,
      umaMajorVersion: a.umaMajorVersion ?? 1,
      invoiceUUID: a.invoiceUUID || undefined,
    });
    return { json: req.toJsonString() };
  },
  verifyPayRequest: async (a) => {
    const req = PayRequest.fromJson(a.json);
    const pub = PubKeyResponse.fromJson(a.pubKeyResponse);
    const verified = await verifyPayReqSignature(req, pub, freshNonces());
    return {
      verified,
      isUma: req.isUma(),
      umaMajorVersion: req.umaMajorVersion,
      amount: req.amount,
      sendingAmountCurrencyCode: req.sendingAmountCurrencyCode ?? "",
      receivingCurrencyCode: req.receivingCurrencyCode ?? "",
      invoiceUUID: req.invoiceUUID ?? "",
      payerData: req.payerData,
    };
  },

  // --- PayReqResponse -------------------------------------------------------
  signPayReqResponse: async (a) => {
    const request = PayRequest.fromJson(a.requestJson);
    const seen = {};
    const invoiceCreator = {
      createUmaInvoice: async (amountMsats, metadata) => {
        seen.amountMsats = amountMsats;
        seen.metadata = metadata;
        return a.pr;
      },
    };
    const resp = await getPayReqResponse({
      request,
      invoiceCreator,
      metadata: a.metadata,
      conversionRate: a.multiplier,
      receivingCurrencyCode: a.currencyCode,
      receivingCurrencyDecimals: a.decimals,
      receiverFeesMillisats: a.feeMsats,
      receiverChannelUtxos: a.utxos ?? [],
      receiverNodePubKey: a.nodePubKey || undefined,
      utxoCallback: a.utxoCallback || undefined,
      payeeData: a.payeeData,
      receivingVaspPrivateKey: hex(a.privateKey),
      payeeIdentifier: a.payeeIdentifier,
    });
    return { json: resp.toJsonString(), invoiceAmountMsats: seen.amountMsats, invoiceMetadata: seen.metadata };
  },
  verifyPayReqResponse: async (a) => {
    const resp = PayReqResponse.fromJson(a.json);
    const pub = PubKeyResponse.fromJson(a.pubKeyResponse);
    const verified = await verifyPayReqResponseSignature(
      resp,
      a.payerIdentifier,
      a.payeeIdentifier,
      pub,
      freshNonces(),
    );
    return { verified, isUma: resp.isUma(), parsed: resp.toJsonSchemaObject() };
  },
  // Parse only: v0 responses carry no signature to verify.
  parsePayReqResponse: async (a) => {
    const resp = PayReqResponse.fromJson(a.json);
    return { isUma: resp.isUma(), umaMajorVersion: resp.umaMajorVersion, parsed: resp.toJsonSchemaObject() };
  },

  // --- Post-transaction callback -------------------------------------------
  signPostTx: async (a) => {
    const cb = await getPostTransactionCallback({
      utxos: a.utxos,
      vaspDomain: a.vaspDomain,
      signingPrivateKey: hex(a.privateKey),
    });
    return { json: JSON.stringify(cb) };
  },
  verifyPostTx: async (a) => {
    const cb = parsePostTransactionCallback(a.json);
    const pub = PubKeyResponse.fromJson(a.pubKeyResponse);
    const verified = await verifyPostTransactionCallbackSignature(cb, pub, freshNonces());
    return { verified, vaspDomain: cb.vaspDomain, utxos: cb.utxos };
  },

  // --- Keys -----------------------------------------------------------------
  pubKeyResponse: async (a) => {
    const r = getPubKeyResponse({
      signingCertChainPem: a.signingCertChainPem,
      encryptionCertChainPem: a.encryptionCertChainPem,
      expirationTimestamp: a.expirationTimestamp || undefined,
    });
    return { json: r.toJsonString() };
  },
  parsePubKeyResponse: async (a) => {
    const r = PubKeyResponse.fromJson(a.json);
    return {
      signingPubKey: toHex(r.getSigningPubKey()),
      encryptionPubKey: toHex(r.getEncryptionPubKey()),
      expirationTimestamp: r.expirationTimestamp ?? 0,
    };
  },

  // --- Travel-rule ECIES (the SDK encrypts with eciesjs and has no decrypt
  // helper: receivers call eciesjs directly, as we do here) -------------------
  // Exactly what the SDK's encryptTrInfo does (it passes the compressed key).
  encrypt: async (a) => ({
    hex: toHex(eciesEncrypt(EciesPublicKey.fromHex(a.publicKey).compressed, Buffer.from(a.plaintext))),
  }),
  decrypt: async (a) => ({ plaintext: Buffer.from(eciesDecrypt(hex(a.privateKey), hex(a.hex))).toString() }),

  // --- UMA invoices ---------------------------------------------------------
  createInvoice: async (a) => {
    const inv = await createUmaInvoice(
      {
        receiverUma: a.receiverUma,
        invoiceUUID: a.invoiceUUID,
        amount: a.amount,
        receivingCurrency: a.receivingCurrency,
        expiration: a.expiration,
        isSubjectToTravelRule: a.isSubjectToTravelRule,
        requiredPayerData: a.requiredPayerData,
        commentCharsAllowed: a.commentCharsAllowed || undefined,
        senderUma: a.senderUma || undefined,
        invoiceLimit: a.maxNumPayments || undefined,
        kycStatus: a.kycStatus || undefined,
        callback: a.callback,
      },
      hex(a.privateKey),
    );
    return { bech32: InvoiceSerializer.toBech32(inv) };
  },
  verifyInvoice: async (a) => {
    const inv = InvoiceSerializer.fromBech32(a.bech32);
    const verified = await verifyUmaInvoiceSignature(inv, hex(a.publicKey));
    const { signature, ...fields } = inv;
    // What the SDK hashed when verifying: its re-serialisation of the decoded fields.
    const reserialized = toHex(InvoiceSerializer.toTLV(fields));
    return { verified, invoice: fields, signature: signature ? toHex(signature) : "", reserialized };
  },
};

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", async (line) => {
  if (!line.trim()) return;
  let id = null;
  try {
    const msg = JSON.parse(line);
    id = msg.id;
    const op = ops[msg.op];
    if (!op) throw new Error(`unknown op ${msg.op}`);
    const result = await op(msg.args ?? {});
    process.stdout.write(JSON.stringify({ id, result }) + "\n");
  } catch (e) {
    process.stdout.write(
      JSON.stringify({ id, error: String(e?.message ?? e), code: e?.code ?? "" }) + "\n",
    );
  }
});
