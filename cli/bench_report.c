/*
 * bench_report.c - `durlog bench` results as a table, JSON or CSV.
 *
 * All three carry the same numbers; JSON and CSV add the machine facts so
 * that a pasted result says where it was measured.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

void bench_group_thousands(uint64_t value, char *buf, size_t size)
{
    char digits[24], grouped[32];
    int len = snprintf(digits, sizeof digits, "%" PRIu64, value);
    size_t out = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            grouped[out++] = ',';
        grouped[out++] = digits[i];
    }
    grouped[out] = '\0';
    snprintf(buf, size, "%s", grouped);
}

static const char *grouped(double v, char *buf, size_t size)
{
    bench_group_thousands((uint64_t)(v + 0.5), buf, size);
    return buf;
}

void bench_print_text(const struct bench_row *rows, size_t n, const struct bench_facts *f)
{
    char a[48], b[48];
    printf("durlog bench: %" PRIu64 " records of %zu bytes in %s (%s)\n", f->records,
           f->size, f->dir, f->fs_type);
    printf("%s, Linux %s, durlog engine %s, I/O mode %s, %s%s\n\n", f->cpu, f->kernel,
           f->engine, f->io, f->date, f->quick ? ", --quick" : "");
    if (f->warning[0])
        printf("warning: %s\n\n", f->warning);
    printf("%-44s %12s %14s %11s %10s\n", "row", "records", "records/s", "us/record",
           "vs fastest");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        if (r->rate <= 0) {
            printf("%-44s %12s\n", r->name, "skipped");
            continue;
        }
        printf("%-44s %12s %14s %11.3f %10.4f\n", r->name, grouped((double)r->records, a, sizeof a),
               grouped(r->rate, b, sizeof b), r->us_per_record, r->ratio);
    }
    int notes = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].note[0])
            continue;
        if (!notes++)
            printf("\n");
        printf("%s: %s\n", rows[i].name, rows[i].note);
    }
}

/* A JSON string of plain text (the names and notes are ASCII we wrote, but
 * paths and /proc strings are not ours). */
static void json_text(const char *s)
{
    size_t len = strlen(s);
    if (utf8_valid(s, len)) {
        json_write_string(stdout, s, len);
        return;
    }
    /* A path or /proc string in another encoding: keep ASCII, mark the rest. */
    char clean[1024];
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < sizeof clean; i++)
        clean[o++] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    json_write_string(stdout, clean, o);
}

/* ,"key":"text", or ,"key":null when text is NULL. */
static void json_field(const char *key, const char *text)
{
    printf(",\"%s\":", key);
    if (text)
        json_text(text);
    else
        printf("null");
}

void bench_print_json(const struct bench_row *rows, size_t n, const struct bench_facts *f)
{
    /* Without a durlog row no log was opened: the engine is not known. */
    int known = strcmp(f->engine, "n/a") != 0;
    printf("{\"facts\":{\"kernel\":");
    json_text(f->kernel);
    json_field("fs_type", f->fs_type);
    json_field("cpu", f->cpu);
    json_field("engine", known ? f->engine : NULL);
    printf(",\"io_uring\":%s", !known ? "null"
           : strcmp(f->engine, "io_uring") == 0 ? "true" : "false");
    json_field("io_mode", known ? f->io : NULL);
    json_field("warning", f->warning);
    json_field("dir", f->dir);
    json_field("date", f->date);
    printf(",\"records\":%" PRIu64 ",\"size\":%zu,\"quick\":%s},\"rows\":[", f->records,
           f->size, f->quick ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        printf("%s{\"name\":", i ? "," : "");
        json_text(r->name);
        json_field("group", r->group);
        printf(",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,"
               "\"records_per_s\":%.1f,\"us_per_record\":%.4f,\"ratio_to_fastest\":%.6f",
               r->records, r->bytes, r->seconds, r->rate, r->us_per_record, r->ratio);
        if (r->verified >= 0)
            printf(",\"verified_records\":%" PRId64, r->verified);
        if (r->calls)
            printf(",\"write_calls\":%ld,\"first_write_bytes\":%" PRIu64, r->calls,
                   r->first_call);
        json_field("note", r->note);
        printf("}");
    }
    printf("]}\n");
}

/* A CSV field, quoted when it holds a comma, quote or newline (RFC 4180),
 * and what ends it: ',' or '\n'. */
static void csv_text(const char *s, char end)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, stdout);
    } else {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    }
    putchar(end);
}

void bench_print_csv(const struct bench_row *rows, size_t n, const struct bench_facts *f)
{
    printf("name,group,records,bytes,seconds,records_per_s,us_per_record,ratio_to_fastest,"
           "verified_records,write_calls,first_write_bytes,note,kernel,fs_type,cpu,engine,"
           "record_size,date,io_mode\n");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        csv_text(r->name, ',');
        csv_text(r->group, ',');
        printf("%" PRIu64 ",%" PRIu64 ",%.6f,%.1f,%.4f,%.6f,", r->records, r->bytes,
               r->seconds, r->rate, r->us_per_record, r->ratio);
        if (r->verified >= 0)
            printf("%" PRId64, r->verified);
        putchar(',');
        if (r->calls)
            printf("%ld,%" PRIu64 ",", r->calls, r->first_call);
        else
            printf(",,");
        csv_text(r->note, ',');
        csv_text(f->kernel, ',');
        csv_text(f->fs_type, ',');
        csv_text(f->cpu, ',');
        csv_text(f->engine, ',');
        printf("%zu,", f->size);
        csv_text(f->date, ',');
        csv_text(f->io, '\n');
    }
}
