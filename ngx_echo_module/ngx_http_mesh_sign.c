
/*
 * HMAC-SHA256 signatures of the mesh credential (see the header for the
 * scheme) and the rule for which addresses a node may register.  A leaf:
 * OpenSSL's libcrypto and nginx core only.
 */


#include "ngx_http_mesh_sign.h"
#include "ngx_http_mesh_hmac.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>


#define NGX_HTTP_MESH_SIGN_TS_MAX    20


struct ngx_http_mesh_sign_key_s {
    EVP_MAC                      *mac;
    EVP_MAC_CTX                  *ctx;      /* keyed once, re-used per MAC */
    EVP_MD                       *md;       /* SHA-256 of node bodies */
    EVP_MD_CTX                   *md_ctx;
    ngx_http_mesh_hmac_key_t      task;     /* the per-request task token */
};


static void ngx_http_mesh_sign_key_cleanup(void *data);
static ngx_int_t ngx_http_mesh_sign_hmac(ngx_http_mesh_sign_key_t *key,
    u_char *msg, size_t len, u_char *hex);
static ngx_int_t ngx_http_mesh_sign_digest(ngx_http_mesh_sign_key_t *key,
    ngx_str_t *body, u_char *md, unsigned int *mdlen);
static ngx_uint_t ngx_http_mesh_sign_is_hex(ngx_str_t *s);
static u_char *ngx_http_mesh_sign_time(u_char *p, time_t ts);


/*
 * OpenSSL 3 fetches the algorithm and sets the key up (two SHA-256 blocks)
 * on every one-shot HMAC() call; the task token is signed per request, so
 * the key is set up once per cycle (a reload brings a new secret and a new
 * key) and each MAC restarts from the keyed state: EVP_MAC_init() with no
 * key copies the saved inner digest state, as HMAC_Init_ex() did.
 */

ngx_http_mesh_sign_key_t *
ngx_http_mesh_sign_key_create(ngx_pool_t *pool, ngx_str_t *secret)
{
    OSSL_PARAM                 params[2];
    ngx_pool_cleanup_t        *cln;
    ngx_http_mesh_sign_key_t  *key;

    cln = ngx_pool_cleanup_add(pool, sizeof(ngx_http_mesh_sign_key_t));
    if (cln == NULL) {
        return NULL;
    }

    key = cln->data;
    key->mac = NULL;
    key->ctx = NULL;
    key->md = NULL;
    key->md_ctx = NULL;
    cln->handler = ngx_http_mesh_sign_key_cleanup;

    key->mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (key->mac == NULL) {
        return NULL;
    }

    key->ctx = EVP_MAC_CTX_new(key->mac);
    if (key->ctx == NULL) {
        return NULL;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(key->ctx, secret->data, secret->len, params) != 1) {
        return NULL;
    }

    /* the node bodies' digest: fetched once too (EVP_Digest() with
       EVP_sha256() fetched it and made a context on every call) */

    key->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    key->md_ctx = EVP_MD_CTX_new();

    if (key->md == NULL || key->md_ctx == NULL) {
        return NULL;
    }

    /*
     * The task token is the one MAC made per request: even re-initialised,
     * an EVP_MAC goes through the provider layer, so it gets its own key
     * states, copied per token (ngx_http_mesh_hmac.c).
     */

    if (ngx_http_mesh_hmac_key(&key->task, secret->data, secret->len) != 0) {
        return NULL;
    }

    return key;
}


static void
ngx_http_mesh_sign_key_cleanup(void *data)
{
    ngx_http_mesh_sign_key_t  *key = data;

    ngx_http_mesh_hmac_key_clear(&key->task);
    EVP_MAC_CTX_free(key->ctx);
    EVP_MAC_free(key->mac);
    EVP_MD_CTX_free(key->md_ctx);
    EVP_MD_free(key->md);
}


static ngx_int_t
ngx_http_mesh_sign_digest(ngx_http_mesh_sign_key_t *key, ngx_str_t *body,
    u_char *md, unsigned int *mdlen)
{
    if (EVP_DigestInit_ex2(key->md_ctx, key->md, NULL) != 1
        || EVP_DigestUpdate(key->md_ctx, body->data, body->len) != 1
        || EVP_DigestFinal_ex(key->md_ctx, md, mdlen) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_sign_hmac(ngx_http_mesh_sign_key_t *key, u_char *msg,
    size_t len, u_char *hex)
{
    u_char  md[EVP_MAX_MD_SIZE];
    size_t  mdlen;

    if (EVP_MAC_init(key->ctx, NULL, 0, NULL) != 1
        || EVP_MAC_update(key->ctx, msg, len) != 1
        || EVP_MAC_final(key->ctx, md, &mdlen, sizeof(md)) != 1
        || mdlen != NGX_HTTP_MESH_SIGN_HEX / 2)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(hex, md, mdlen);

    return NGX_OK;
}


/* lowercase hex only: one spelling per signature */

static ngx_uint_t
ngx_http_mesh_sign_is_hex(ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (!((s->data[i] >= '0' && s->data[i] <= '9')
              || (s->data[i] >= 'a' && s->data[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_http_mesh_sign_parse(ngx_http_request_t *r, time_t window,
    ngx_http_mesh_sign_t *s, const char **why)
{
    u_char           *p, *last, *colon;
    time_t            now;
    ngx_str_t         v, ts;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h == NULL) {
        *why = "no Authorization header";
        return NGX_DECLINED;
    }

    v = h->value;

    if (v.len < sizeof(NGX_HTTP_MESH_SIGN_NODE " ") - 1
        || ngx_strncmp(v.data, NGX_HTTP_MESH_SIGN_NODE " ",
                       sizeof(NGX_HTTP_MESH_SIGN_NODE " ") - 1)
           != 0)
    {
        *why = "not a " NGX_HTTP_MESH_SIGN_NODE " signature";
        return NGX_DECLINED;
    }

    p = v.data + sizeof(NGX_HTTP_MESH_SIGN_NODE " ") - 1;
    last = v.data + v.len;

    /* <ts>:<nonce>:<sig> */

    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL) {
        goto malformed;
    }

    ts.data = p;
    ts.len = colon - p;
    p = colon + 1;

    colon = ngx_strlchr(p, last, ':');
    if (colon == NULL) {
        goto malformed;
    }

    s->nonce.data = p;
    s->nonce.len = colon - p;
    s->sig.data = colon + 1;
    s->sig.len = last - (colon + 1);

    if (ts.len == 0 || ts.len > NGX_HTTP_MESH_SIGN_TS_MAX
        || s->nonce.len < NGX_HTTP_MESH_NONCE_MIN
        || s->nonce.len > NGX_HTTP_MESH_NONCE_MAX
        || !ngx_http_mesh_sign_is_hex(&s->nonce)
        || s->sig.len != NGX_HTTP_MESH_SIGN_HEX
        || !ngx_http_mesh_sign_is_hex(&s->sig))
    {
        goto malformed;
    }

    s->ts = ngx_atotm(ts.data, ts.len);
    if (s->ts == NGX_ERROR) {
        goto malformed;
    }

    now = ngx_time();

    if (s->ts < now - window || s->ts > now + window) {
        *why = "the timestamp is outside the allowed window";
        return NGX_DECLINED;
    }

    return NGX_OK;

malformed:

    *why = "a malformed signature";
    return NGX_DECLINED;
}


ngx_int_t
ngx_http_mesh_sign_verify(ngx_http_request_t *r,
    ngx_http_mesh_sign_key_t *key, ngx_http_mesh_sign_t *s, ngx_str_t *body)
{
    u_char        *msg, *p;
    u_char         md[EVP_MAX_MD_SIZE];
    u_char         expect[NGX_HTTP_MESH_SIGN_HEX];
    size_t         len;
    unsigned int   mdlen;

    if (key == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_mesh_sign_digest(key, body, md, &mdlen) != NGX_OK) {
        return NGX_ERROR;
    }

    len = sizeof(NGX_HTTP_MESH_SIGN_NODE) + r->method_name.len + 1
          + r->unparsed_uri.len + 1 + NGX_TIME_T_LEN + 1 + s->nonce.len + 1
          + 2 * mdlen;

    msg = ngx_pnalloc(r->pool, len);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(msg, NGX_HTTP_MESH_SIGN_NODE "\n%V\n%V\n%T\n%V\n",
                    &r->method_name, &r->unparsed_uri, s->ts, &s->nonce);
    p = ngx_hex_dump(p, md, mdlen);

    if (ngx_http_mesh_sign_hmac(key, msg, p - msg, expect) != NGX_OK) {
        return NGX_ERROR;
    }

    if (CRYPTO_memcmp(expect, s->sig.data, NGX_HTTP_MESH_SIGN_HEX) != 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* what "%T" writes */

static u_char *
ngx_http_mesh_sign_time(u_char *p, time_t ts)
{
    u_char    buf[NGX_TIME_T_LEN], *d;
    uint64_t  u;

    if (ts < 0) {
        *p++ = '-';
        u = - (uint64_t) ts;

    } else {
        u = (uint64_t) ts;
    }

    d = buf + sizeof(buf);

    do {
        *--d = (u_char) ('0' + u % 10);
        u /= 10;
    } while (u);

    return ngx_cpymem(p, d, buf + sizeof(buf) - d);
}


ngx_int_t
ngx_http_mesh_sign_task_sig(ngx_http_mesh_sign_key_t *key, u_char *node_id,
    u_char *task_id, time_t ts, u_char *out)
{
    u_char  *p;
    size_t   nlen, tlen;
    u_char   md[NGX_HTTP_MESH_HMAC_LEN];
    u_char   msg[sizeof(NGX_HTTP_MESH_SIGN_TASK) + 256 + NGX_TIME_T_LEN];

    /* node and task ids are bounded (64 and 40 bytes) by their fields */

    nlen = ngx_strlen(node_id);
    tlen = ngx_strlen(task_id);

    if (nlen + tlen > 256) {
        return NGX_ERROR;
    }

    /* per request: copies, not a format parsed (the same bytes as %s, %T) */

    p = ngx_cpymem(msg, NGX_HTTP_MESH_SIGN_TASK "\n",
                   sizeof(NGX_HTTP_MESH_SIGN_TASK "\n") - 1);
    p = ngx_cpymem(p, node_id, nlen);
    *p++ = '\n';
    p = ngx_cpymem(p, task_id, tlen);
    *p++ = '\n';
    p = ngx_http_mesh_sign_time(p, ts);

    if (ngx_http_mesh_hmac(&key->task, msg, p - msg, md) != 0) {
        return NGX_ERROR;
    }

    ngx_hex_dump(out, md, sizeof(md));

    return NGX_OK;
}


ngx_int_t
ngx_http_mesh_sign_task(ngx_pool_t *pool, ngx_http_mesh_sign_key_t *key,
    u_char *node_id, u_char *task_id, time_t ts, ngx_str_t *out)
{
    u_char  *p;
    size_t   len, tlen;

    tlen = ngx_strlen(task_id);
    len = sizeof(NGX_HTTP_MESH_SIGN_TASK) + NGX_TIME_T_LEN + 1
          + tlen + 1 + NGX_HTTP_MESH_SIGN_HEX;

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, NGX_HTTP_MESH_SIGN_TASK " ",
                   sizeof(NGX_HTTP_MESH_SIGN_TASK " ") - 1);
    p = ngx_http_mesh_sign_time(p, ts);
    *p++ = ':';
    p = ngx_cpymem(p, task_id, tlen);
    *p++ = ':';

    if (ngx_http_mesh_sign_task_sig(key, node_id, task_id, ts, p)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->len = p + NGX_HTTP_MESH_SIGN_HEX - out->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_mesh_sign_reply(ngx_http_mesh_sign_key_t *key, ngx_str_t *req_sig,
    ngx_uint_t status, ngx_str_t *body, u_char *out)
{
    u_char        *p;
    u_char         md[EVP_MAX_MD_SIZE];
    u_char         msg[sizeof(NGX_HTTP_MESH_SIGN_REPLY)
                       + NGX_HTTP_MESH_SIGN_HEX + 1 + NGX_INT_T_LEN + 1
                       + 2 * EVP_MAX_MD_SIZE];
    unsigned int   mdlen;

    /* bound to the one request it answers: a reply cannot be replayed to
       another heartbeat, nor a 200 made of a refusal */
    if (key == NULL || req_sig->len != NGX_HTTP_MESH_SIGN_HEX
        || ngx_http_mesh_sign_digest(key, body, md, &mdlen) != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_sprintf(msg, NGX_HTTP_MESH_SIGN_REPLY "\n%V\n%ui\n", req_sig,
                    status);
    p = ngx_hex_dump(p, md, mdlen);

    return ngx_http_mesh_sign_hmac(key, msg, p - msg, out);
}


ngx_int_t
ngx_http_mesh_sign_host_allowed(ngx_http_request_t *r, ngx_array_t *networks,
    ngx_uint_t source, const char *host)
{
    ngx_addr_t         addr;
    ngx_connection_t  *c;

    switch (ngx_parse_addr(r->pool, &addr, (u_char *) host,
                           ngx_strlen(host)))
    {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return NGX_DECLINED;
    default:
        return NGX_ERROR;
    }

    c = r->connection;

    if (source
        && ngx_cmp_sockaddr(addr.sockaddr, addr.socklen, c->sockaddr,
                            c->socklen, 0)
           == NGX_OK)
    {
        return NGX_OK;
    }

    if (networks && ngx_cidr_match(addr.sockaddr, networks) == NGX_OK) {
        return NGX_OK;
    }

    return NGX_DECLINED;
}
