
/*
 * Client API keys: the mesh_api_keys file, read at configuration time, and
 * the check every front door makes (see the header).
 */


#include "ngx_http_mesh_module.h"
#include "ngx_http_mesh_zone.h"
#include "ngx_http_mesh_stats.h"
#include "ngx_http_mesh_keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>


static char *ngx_http_mesh_api_keys_line(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *file, ngx_uint_t line, u_char *p, u_char *last);
static ngx_int_t ngx_http_mesh_api_key_lookup(ngx_http_request_t *r,
    ngx_uint_t args, ngx_str_t *name);
static ngx_int_t ngx_http_mesh_api_key_presented(ngx_http_request_t *r,
    ngx_uint_t args, ngx_str_t *key);


char *
ngx_http_mesh_api_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mesh_main_conf_t *mmcf = conf;

    u_char           *buf, *p, *last, *eol;
    char             *rv;
    ssize_t           n;
    ngx_str_t        *value, name;
    ngx_uint_t        line;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (mmcf->api_keys) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mmcf->api_keys = ngx_array_create(cf->pool, 8,
                                      sizeof(ngx_http_mesh_api_key_t));
    if (mmcf->api_keys == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;
    buf = NULL;
    n = 0;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &name);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_MESH_KEYS_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh api keys file \"%V\" is larger than %d "
                           "bytes", &name, NGX_HTTP_MESH_KEYS_FILE_MAX);
        goto done;
    }

    if (fi.st_mode & (S_IROTH|S_IWOTH)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "mesh api keys file \"%V\" is readable by others",
                           &name);
    }

    buf = ngx_pnalloc(cf->pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, buf, ngx_file_size(&fi), 0);
    if (n == NGX_ERROR) {
        n = 0;
        goto done;
    }

    p = buf;
    last = buf + n;

    for (line = 1; p < last; line++) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (ngx_http_mesh_api_keys_line(cf, mmcf->api_keys, &name, line, p,
                                        eol)
            != NGX_CONF_OK)
        {
            goto done;
        }

        p = eol + 1;
    }

    if (mmcf->api_keys->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh api keys file \"%V\" has no key", &name);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    /* the keys stay only as digests */
    if (buf && n > 0) {
        ngx_explicit_memzero(buf, n);
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &name);
    }

    return rv;
}


/* one line: "# comment", blank, "key" or "name:key" */

static char *
ngx_http_mesh_api_keys_line(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *file, ngx_uint_t line, u_char *p, u_char *last)
{
    u_char                   *colon, *c;
    u_char                    digest[32];
    ngx_str_t                 name, key;
    ngx_uint_t                i;
    ngx_http_mesh_api_key_t  *k;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t'
                        || last[-1] == '\r'))
    {
        last--;
    }

    if (p == last || *p == '#') {
        return NGX_CONF_OK;
    }

    colon = ngx_strlchr(p, last, ':');

    if (colon) {
        name.data = p;
        name.len = colon - p;
        key.data = colon + 1;
        key.len = last - colon - 1;

    } else {
        name.data = ngx_pnalloc(cf->pool, sizeof("key") + NGX_INT_T_LEN);
        if (name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        name.len = ngx_sprintf(name.data, "key%ui", line) - name.data;
        key.data = p;
        key.len = last - p;
    }

    if (name.len == 0 || name.len > NGX_HTTP_MESH_KEY_NAME_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh api keys file \"%V\", line %ui: a name is "
                           "1 to %d characters", file, line,
                           NGX_HTTP_MESH_KEY_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    for (c = name.data; c < name.data + name.len; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (*c >= '0' && *c <= '9')
              || *c == '-' || *c == '_' || *c == '.'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mesh api keys file \"%V\", line %ui: a name "
                               "has only letters, digits, \"-\", \"_\" and "
                               "\".\"", file, line);
            return NGX_CONF_ERROR;
        }
    }

    if (key.len < NGX_HTTP_MESH_KEY_MIN || key.len > NGX_HTTP_MESH_KEY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh api keys file \"%V\", line %ui: a key is "
                           "%d to %d characters", file, line,
                           NGX_HTTP_MESH_KEY_MIN, NGX_HTTP_MESH_KEY_MAX);
        return NGX_CONF_ERROR;
    }

    for (c = key.data; c < key.data + key.len; c++) {
        if (*c <= ' ' || *c >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mesh api keys file \"%V\", line %ui: a key "
                               "has no spaces or control characters",
                               file, line);
            return NGX_CONF_ERROR;
        }
    }

    if (keys->nelts >= NGX_HTTP_MESH_KEYS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mesh api keys file \"%V\" has more than %d keys",
                           file, NGX_HTTP_MESH_KEYS_MAX);
        return NGX_CONF_ERROR;
    }

    SHA256(key.data, key.len, digest);

    k = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        if (ngx_memcmp(k[i].digest, digest, 32) == 0
            || (k[i].name.len == name.len
                && ngx_strncmp(k[i].name.data, name.data, name.len) == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mesh api keys file \"%V\", line %ui: the "
                               "same key or name as \"%V\"", file, line,
                               &k[i].name);
            return NGX_CONF_ERROR;
        }
    }

    k = ngx_array_push(keys);
    if (k == NULL) {
        return NGX_CONF_ERROR;
    }

    k->name.data = ngx_pstrdup(cf->pool, &name);
    if (k->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    k->name.len = name.len;
    ngx_memcpy(k->digest, digest, 32);

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_mesh_api_key_check(ngx_http_request_t *r, ngx_str_t *name)
{
    return ngx_http_mesh_api_key_lookup(r, 0, name);
}


ngx_int_t
ngx_http_mesh_api_key_check_args(ngx_http_request_t *r, ngx_str_t *name)
{
    return ngx_http_mesh_api_key_lookup(r, 1, name);
}


void
ngx_http_mesh_api_key_refused(ngx_http_request_t *r, ngx_uint_t door)
{
    ngx_table_elt_t        *h;
    ngx_http_mesh_zone_t   *zone;
    ngx_http_mesh_stats_t  *st;

    zone = ngx_http_mesh_zone_get(r);
    st = zone ? zone->sh->stats : NULL;

    if (st) {
        (void) ngx_atomic_fetch_add(
            &st->unauthorized[door <= NGX_HTTP_MESH_DOORS ? door : 0], 1);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mesh: request without a valid api key");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer realm=\"mesh\"");
}


ngx_int_t
ngx_http_mesh_api_key_require(ngx_http_request_t *r, ngx_uint_t door,
    ngx_uint_t args)
{
    ngx_int_t  rc;
    ngx_str_t  name;

    rc = ngx_http_mesh_api_key_lookup(r, args, &name);

    if (rc == NGX_OK || rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    if (rc != NGX_HTTP_UNAUTHORIZED
        || ngx_http_discard_request_body(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mesh_api_key_refused(r, door);

    if (door == NGX_HTTP_MESH_DOOR_OPENAI) {
        return ngx_http_mesh_send_openai_error(r, NGX_HTTP_UNAUTHORIZED,
                   "invalid_request_error", "invalid_api_key",
                   "Incorrect API key provided");
    }

    return ngx_http_mesh_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                    "invalid api key");
}


ngx_int_t
ngx_http_mesh_api_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  name;
    ngx_http_mesh_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mesh_module);

    if (ngx_http_mesh_api_key_lookup(r, mlcf->key_args, &name) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = name.len;
    v->data = name.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mesh_api_key_lookup(ngx_http_request_t *r, ngx_uint_t args,
    ngx_str_t *name)
{
    u_char                      digest[32];
    ngx_str_t                   key;
    ngx_uint_t                  i;
    ngx_http_mesh_api_key_t    *k, *found;
    ngx_http_mesh_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mesh_module);

    if (mmcf->api_keys == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_mesh_api_key_presented(r, args, &key) != NGX_OK) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    SHA256(key.data, key.len, digest);

    /* every key is compared: the time taken says nothing of which matched */

    k = mmcf->api_keys->elts;
    found = NULL;

    for (i = 0; i < mmcf->api_keys->nelts; i++) {
        if (CRYPTO_memcmp(k[i].digest, digest, 32) == 0) {
            found = &k[i];
        }
    }

    if (found == NULL) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    *name = found->name;

    return NGX_OK;
}


/* the key a request presents, from the headers (and the query) */

static ngx_int_t
ngx_http_mesh_api_key_presented(ngx_http_request_t *r, ngx_uint_t args,
    ngx_str_t *key)
{
    u_char           *dst, *src;
    ngx_str_t         arg;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    key->len = 0;

    h = r->headers_in.authorization;

    if (h && h->value.len > 7
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        key->data = h->value.data + 7;
        key->len = h->value.len - 7;

        while (key->len && key->data[0] == ' ') {
            key->data++;
            key->len--;
        }

    } else {
        part = &r->headers_in.headers.part;
        h = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                h = part->elts;
                i = 0;
            }

            if (h[i].key.len == sizeof("x-api-key") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "x-api-key",
                                   sizeof("x-api-key") - 1)
                   == 0)
            {
                *key = h[i].value;
                break;
            }
        }
    }

    if (key->len == 0 && args
        && ngx_http_arg(r, (u_char *) "key", 3, &arg) == NGX_OK
        && arg.len <= 3 * NGX_HTTP_MESH_KEY_MAX)
    {
        dst = ngx_pnalloc(r->pool, arg.len);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        src = arg.data;
        key->data = dst;
        ngx_unescape_uri(&dst, &src, arg.len, 0);
        key->len = dst - key->data;
    }

    if (key->len == 0 || key->len > NGX_HTTP_MESH_KEY_MAX) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}
