"""HTTPS as MindIE serves it (MindIE-LLM 3.0 `http_ssl.cpp`, `server_config.cpp`, `file_utils.cpp`).

- Mutual TLS: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT (ssl.CERT_REQUIRED), TLS 1.3 minimum.
- One certificate set per port family: business (tls*), management (managementTls*), metrics (metricsTls*).
  The CA directory `tlsCaPath` is shared; each family names its own CA files. When management, metrics and
  business share one address and port, only the business set is checked and served (as MindIE does).
- Every file is `<service home>/` + the configured relative path (MindIE concatenates; an absolute path ends up
  below the home too); it must not be a symlink, must resolve below the home, be a regular file owned by the
  daemon's user and not looser than 0640. These checks hold even with MINDIE_CHECK_INPUTFILES_PERMISSION=0
  (`ParamChecker::CheckPath` fails either way).
- The server certificate must be valid now and its key at least 3072 bits ("Certificate key length is too short").
- Key passphrase: real MindIE 1.0 keeps it KMC-encrypted in the file `tlsPkPwd` names; the simulator reads that
  file as the plain passphrase. An empty or absent `tlsPkPwd` means an unencrypted key (MindIE 3.0 has no
  `tlsPkPwd`). [I] 1.0's config has no metricsTls* keys: when a config has none, metrics uses the management set.
- Standard library only: key sizes and validity are read from the certificate's DER with a small ASN.1 reader.
"""
import datetime
import os
import ssl
import stat

MIN_KEY_BITS = 3072
MAX_FILES = 3
FILE_MODE = 0o640

# family -> (CA files, cert, key, key passphrase, CRL dir, CRL files); the CA dir is always tlsCaPath.
FAMILIES = (
    ("business", ("tlsCaFile", "tlsCert", "tlsPk", "tlsPkPwd", "tlsCrlPath", "tlsCrlFiles")),
    ("management", ("managementTlsCaFile", "managementTlsCert", "managementTlsPk", "managementTlsPkPwd",
                    "managementTlsCrlPath", "managementTlsCrlFiles")),
    ("metrics", ("metricsTlsCaFile", "metricsTlsCert", "metricsTlsPk", "metricsTlsPkPwd",
                 "metricsTlsCrlPath", "metricsTlsCrlFiles")),
)
FAMILY_KEYS = dict(FAMILIES)

OID_RSA = "1.2.840.113549.1.1.1"
OID_DSA = "1.2.840.10040.4.1"


class TlsError(Exception):
    pass


# ------------------------------------------------------------------ DER


def _der(data, pos):
    """(tag, content start, content end) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise TlsError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise TlsError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise TlsError("truncated DER")
    return tag, pos, pos + length


def _children(data, start, end):
    out = []
    pos = start
    while pos < end:
        tag, cstart, cend = _der(data, pos)
        out.append((tag, cstart, cend))
        pos = cend
    return out


def _oid(raw):
    first = raw[0]
    parts = [first // 40, first % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _time(tag, raw):
    text = raw.decode("ascii")
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)


def cert_info(der):
    """notBefore, notAfter, key type and key bits of a DER X.509 certificate."""
    try:
        _, start, end = _der(der, 0)
        tbs = _children(der, start, end)[0]
        fields = _children(der, tbs[1], tbs[2])
        if fields[0][0] == 0xA0:        # [0] version
            fields = fields[1:]
        validity, spki = fields[3], fields[5]
        not_before, not_after = [_time(t, der[s:e]) for t, s, e in _children(der, validity[1], validity[2])]
        alg, key = _children(der, spki[1], spki[2])
        alg_parts = _children(der, alg[1], alg[2])
        oid = _oid(der[alg_parts[0][1]:alg_parts[0][2]])
        bits_raw = der[key[1] + 1:key[2]]     # skip the unused-bits byte of the BIT STRING
        if oid == OID_RSA:
            _, ks, ke = _der(bits_raw, 0)
            modulus = _children(bits_raw, ks, ke)[0]
            kind, bits = "RSA", int.from_bytes(bits_raw[modulus[1]:modulus[2]], "big").bit_length()
        elif oid == OID_DSA and len(alg_parts) > 1:
            p = _children(der, alg_parts[1][1], alg_parts[1][2])[0]
            kind, bits = "DSA", int.from_bytes(der[p[1]:p[2]], "big").bit_length()
        else:                               # EC point (04 | X | Y), Ed25519/Ed448 raw keys
            size = (len(bits_raw) - 1) // 2 if bits_raw[:1] == b"\x04" else len(bits_raw)
            kind, bits = "non-RSA (%s)" % oid, size * 8
    except (TlsError, IndexError, ValueError) as exc:
        raise TlsError("cannot parse the certificate: %s" % exc)
    return {"not_before": not_before, "not_after": not_after, "key_type": kind, "key_bits": bits}


def pem_certificates(path):
    """DER of every certificate in a PEM file."""
    with open(path, "r", encoding="ascii", errors="replace") as handle:
        text = handle.read()
    ders = []
    marker = "-----BEGIN CERTIFICATE-----"
    for block in text.split(marker)[1:]:
        body = block.split("-----END CERTIFICATE-----")[0]
        try:
            ders.append(ssl.PEM_cert_to_DER_cert(marker + body + "-----END CERTIFICATE-----\n"))
        except ValueError:
            continue
    return ders


# ------------------------------------------------------------------ config


def _path(home, value):
    return home.rstrip("/") + "/" + value


def check_file(home, path, key):
    """MindIE's CheckPath for a file: no link, below home, regular, owner, <= 0640. Error list."""
    name = os.path.basename(path)
    where = "The ServerConfig.%s path is invalid by: " % key
    if os.path.islink(path):
        return [where + "The file: %s is a link." % name]
    if not os.path.exists(path):
        return ["httpsEnabled is true, but the file %s (ServerConfig.%s) does not exist. "
                "Please prepare the certificates or set httpsEnabled to false." % (path, key)]
    real = os.path.realpath(path)
    if not real.startswith(os.path.realpath(home).rstrip("/") + "/"):
        return [where + "The file: %s is invalid, it's not in baseDir directory." % name]
    st = os.stat(real)
    if not stat.S_ISREG(st.st_mode):
        return [where + "The input file: %s is not a regular file or not exists" % name]
    errors = []
    if st.st_uid != os.getuid():
        errors.append(where + "Check path: %s failed, by:owner id diff: current process user id is %d, file owner "
                      "id is %d" % (name, os.getuid(), st.st_uid))
    mode = stat.S_IMODE(st.st_mode)
    if mode & ~FILE_MODE & 0o777:
        errors.append(where + "Check path: %s failed, by: Check permission failed: %s current permission is %o, "
                      "but required no greater than %o." % (name, path, mode, FILE_MODE))
    return errors


def _names(server, key, errors, required):
    value = server.get(key)
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append("%s init error: ServerConfig.%s should be a json array of strings." % (key, key))
        return []
    if required and not 1 <= len(value) <= MAX_FILES:
        errors.append("ERR: serverConfig_.%s size must in [1, %d]." % (key, MAX_FILES))
    elif not required and len(value) > MAX_FILES:
        errors.append("ERR: serverConfig_.%s size must in [0, %d]." % (key, MAX_FILES))
    return value


def families_needed(settings):
    """MindIE checks management/metrics certificates unless everything is served on one address and port."""
    if (settings["mgmt_ip"] == settings["ip"] and settings["mgmt_port"] == settings["port"]
            and settings["metrics_port"] == settings["port"]):
        return ["business"]
    return ["business", "management", "metrics"]


def validate(server, settings, home):
    """Check every TLS file of the families needed; return (plans, errors)."""
    errors = []
    ca_dir = server.get("tlsCaPath", "security/ca/")
    if not isinstance(ca_dir, str):
        errors.append("ServerConfig.tlsCaPath %r is invalid, it should be a string." % (ca_dir,))
        ca_dir = ""
    elif not os.path.isdir(_path(home, ca_dir)):
        errors.append("The ServerConfig.tlsCaPath path is not a dir by: %s does not exist. Please prepare the "
                      "certificates or set httpsEnabled to false." % _path(home, ca_dir))
    has_metrics = any(k in server for k in FAMILY_KEYS["metrics"])
    plans = {}
    for family in families_needed(settings):
        keys = FAMILY_KEYS["management" if family == "metrics" and not has_metrics else family]
        ca_key, cert_key, pk_key, pwd_key, crl_dir_key, crl_key = keys
        plan = {"ca": [], "crl": [], "cert": None, "key": None, "password": None}
        for name in _names(server, ca_key, errors, True):
            path = _path(home, ca_dir + name)
            plan["ca"].append(path)
            errors += check_file(home, path, ca_key)
        for key, slot in ((cert_key, "cert"), (pk_key, "key")):
            value = server.get(key)
            if not isinstance(value, str) or not value:
                errors.append("httpsEnabled is true, but ServerConfig.%s is not set. Please prepare the "
                              "certificates or set httpsEnabled to false." % key)
                continue
            plan[slot] = _path(home, value)
            errors += check_file(home, plan[slot], key)
        pwd = server.get(pwd_key)
        if pwd not in (None, ""):
            if not isinstance(pwd, str):
                errors.append("ServerConfig.%s %r is invalid, it should be a string." % (pwd_key, pwd))
            else:
                plan["password"] = _path(home, pwd)
                errors += check_file(home, plan["password"], pwd_key)
        crl_dir = server.get(crl_dir_key)
        crl_files = _names(server, crl_key, errors, False)
        if isinstance(crl_dir, str) and crl_dir and crl_files:
            for name in crl_files:
                path = _path(home, crl_dir + name)
                plan["crl"].append(path)
                errors += check_file(home, path, crl_key)
        plans[family] = plan
    return plans, errors


# ------------------------------------------------------------------ contexts


def server_context(family, plan, now=None):
    """The SSLContext MindIE's HttpSsl::InitSSL builds for one family; raises TlsError with MindIE's words."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED         # SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
    try:
        for path in plan["ca"]:
            ctx.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError("[%s] TLS load verify file failed (%s): %s. Failed to load ca cert" % (family, path, exc))
    if plan["crl"]:
        try:
            for path in plan["crl"]:
                ctx.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError("[%s] Failed to load cert revocation list %s: %s" % (family, path, exc))
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    try:
        ders = pem_certificates(plan["cert"])
        if not ders:
            raise TlsError("no PEM certificate in the file")
        info = cert_info(ders[0])
    except (OSError, TlsError) as exc:
        raise TlsError("[%s] TLS use certification file failed (%s): %s. Failed to load server cert"
                       % (family, plan["cert"], exc))
    if info["not_after"] < now:
        raise TlsError("[%s] Certificate has expired! current time after cert time (%s, notAfter %s). "
                       "Failed to load server cert" % (family, plan["cert"], info["not_after"].isoformat()))
    if info["not_before"] > now:
        raise TlsError("[%s] Certificate has expired! current time before cert time (%s, notBefore %s). "
                       "Failed to load server cert" % (family, plan["cert"], info["not_before"].isoformat()))
    if info["key_bits"] < MIN_KEY_BITS:
        raise TlsError("[%s] Certificate key length is too short, key length < %d (%s has a %d-bit %s key). "
                       "Failed to load server cert" % (family, MIN_KEY_BITS, plan["cert"], info["key_bits"],
                                                       info["key_type"]))
    password = None
    if plan["password"]:
        try:
            with open(plan["password"], "r", encoding="utf-8") as handle:
                password = handle.read().rstrip("\r\n") or None
        except (OSError, UnicodeDecodeError) as exc:
            raise TlsError("[%s] Failed to read the key passphrase %s: %s" % (family, plan["password"], exc))
    try:
        ctx.load_cert_chain(plan["cert"], plan["key"], password=password or (lambda: b""))
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise TlsError("[%s] Failed to set use private key file %s: %s. Failed to load private key"
                       % (family, plan["key"], exc))
    return ctx


def contexts(plans):
    """family -> SSLContext; raises TlsError on the first family that fails."""
    return {family: server_context(family, plan) for family, plan in plans.items()}


def context_for(roles, ctxs):
    """The certificate set a listener serving ``roles`` presents: business wins, then management. [I]"""
    for family in ("business", "management", "metrics"):
        if family in roles and family in ctxs:
            return ctxs[family]
    return ctxs.get("business")
