/*
 * output.c - turning record payloads and times into text for `durlog cat`
 * and friends: UTF-8 validation, JSON string escaping, base64, RFC 3339,
 * and a whole record in the text or JSON format of `durlog cat` and `tail`.
 *
 * A payload is arbitrary bytes. JSON strings can only carry Unicode, so a
 * payload that is valid UTF-8 is written as a JSON string and anything else
 * as base64 (the caller marks which with an "encoding" field).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* True for a UTF-8 continuation byte, 10xxxxxx. */
static int is_continuation(unsigned char byte)
{
    return (byte & 0xC0) == 0x80;
}

int utf8_valid(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;

    while (i < len) {
        unsigned char lead = p[i];
        size_t need;          /* continuation bytes after the lead */
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */

        if (lead < 0x80) {
            i++;
            continue;
        }
        if (lead >= 0xC2 && lead <= 0xDF) {
            need = 1;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            need = 2;
            if (lead == 0xE0)
                lo = 0xA0;    /* below is an overlong form */
            else if (lead == 0xED)
                hi = 0x9F;    /* above is a UTF-16 surrogate */
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            need = 3;
            if (lead == 0xF0)
                lo = 0x90;    /* below is an overlong form */
            else if (lead == 0xF4)
                hi = 0x8F;    /* above is past U+10FFFF */
        } else {
            return 0;         /* 0x80..0xC1 (stray or overlong), 0xF5.. */
        }
        if (len - i - 1 < need)
            return 0;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= need; k++)
            if (!is_continuation(p[i + k]))
                return 0;
        i += need + 1;
    }
    return 1;
}

void json_write_string(FILE *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t run = 0; /* start of the bytes not yet written */

    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        const char *escape = NULL;
        char hex[8];

        switch (c) {
        case '"':  escape = "\\\""; break;
        case '\\': escape = "\\\\"; break;
        case '\b': escape = "\\b"; break;
        case '\f': escape = "\\f"; break;
        case '\n': escape = "\\n"; break;
        case '\r': escape = "\\r"; break;
        case '\t': escape = "\\t"; break;
        default:
            if (c < 0x20) { /* JSON forbids raw control characters */
                snprintf(hex, sizeof(hex), "\\u%04x", c);
                escape = hex;
            }
        }
        if (!escape)
            continue;
        fwrite(p + run, 1, i - run, out);
        fputs(escape, out);
        run = i + 1;
    }
    fwrite(p + run, 1, len - run, out);
    fputc('"', out);
}

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes n (1 to 3) bytes as 4 characters of 6 bits each, padding with '='
 * for the bytes missing at the end of the input. */
static void base64_write_group(FILE *out, const unsigned char *p, size_t n)
{
    uint32_t bits = (uint32_t)p[0] << 16 | (n > 1 ? (uint32_t)p[1] << 8 : 0) |
                    (n > 2 ? p[2] : 0);
    char group[4] = {
        base64_alphabet[bits >> 18],
        base64_alphabet[(bits >> 12) & 63],
        n > 1 ? base64_alphabet[(bits >> 6) & 63] : '=',
        n > 2 ? base64_alphabet[bits & 63] : '=',
    };

    fwrite(group, 1, sizeof(group), out);
}

void json_write_base64(FILE *out, const void *data, size_t len)
{
    const unsigned char *p = data;

    fputc('"', out);
    for (size_t i = 0; i < len; i += 3)
        base64_write_group(out, p + i, len - i < 3 ? len - i : 3);
    fputc('"', out);
}

void rfc3339_format_ns(uint64_t time_ns, char buf[RFC3339_NS_SIZE])
{
    const uint64_t ns_per_s = 1000000000;
    time_t seconds = (time_t)(time_ns / ns_per_s);
    struct tm tm;
    size_t n;

    if (!gmtime_r(&seconds, &tm)) {
        snprintf(buf, RFC3339_NS_SIZE, "invalid");
        return;
    }
    n = strftime(buf, RFC3339_NS_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, RFC3339_NS_SIZE - n, ".%09" PRIu64 "Z",
             time_ns % ns_per_s);
}

int cli_stdout_error(void)
{
    return errno ? -errno : -EIO;
}

/* Writes one record as text. Returns 0 or a negative errno. */
static int write_text(const durlog_record *rec)
{
    if (fwrite(rec->data, 1, rec->len, stdout) != rec->len ||
        putchar('\n') == EOF)
        return cli_stdout_error();
    return 0;
}

/* Writes one record as a JSON object on one line. Returns 0 or a negative
 * errno. */
static int write_json(const durlog_record *rec)
{
    char when[RFC3339_NS_SIZE];

    rfc3339_format_ns(rec->time_ns, when);
    printf("{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"data\":", rec->seq, when);
    if (utf8_valid(rec->data, rec->len)) {
        json_write_string(stdout, rec->data, rec->len);
    } else {
        json_write_base64(stdout, rec->data, rec->len);
        fputs(",\"encoding\":\"base64\"", stdout);
    }
    if (fputs("}\n", stdout) == EOF || ferror(stdout))
        return cli_stdout_error();
    return 0;
}

int cli_write_record(const durlog_record *rec, enum cli_format format)
{
    return format == CLI_FORMAT_JSON ? write_json(rec) : write_text(rec);
}
