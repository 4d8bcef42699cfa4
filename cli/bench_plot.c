/*
 * bench_plot.c - the chart of `durlog bench`: the rows' records/s as an SVG
 * bar chart on a log scale.
 *
 * The rates span several decades (a write()+fdatasync per record against
 * group commit differs by 100x or more), so a linear axis would show the
 * slow rows as slivers; a log10 axis shows every row and its ratio to the
 * others. Bars are colored by group (the article's way, durlog's levels,
 * the write() cap) and keep the table's order, so the chart reads like it.
 *
 * The SVG is written here, by hand: it needs nothing installed, so the
 * chart is the same on every machine. (An earlier second writer through
 * gnuplot drew it when gnuplot was installed; one writer is one thing to
 * keep right.) The file is put in place with durlog_put_buffer(): written
 * to a temporary file in the destination's directory, fsynced, renamed over
 * it, so a reader never sees half a chart and an older chart survives a
 * failed run.
 *
 * Text from the rows and the facts (names, the CPU's model) is escaped for
 * XML; control characters become spaces and bytes of a string that is not
 * UTF-8 become '?', which keeps the SVG well-formed whatever the input. The
 * output depends only on the input: no clock is read here (the date is
 * facts->date). Numbers go through printf in the C locale, which `durlog`
 * never changes, so decimals use a point.
 *
 * No <math.h>: `durlog` does not link libm, so the one logarithm needed is
 * computed here (decimal_log()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

#define PLOT_TITLE "durlog bench: records/s (log scale)"

/* ---- colors, the axis, numbers, text ---- */

struct group_style {
    const char *name;
    const char *color;
};

/* ColorBrewer "Dark2": three hues told apart also with the common forms of
 * color blindness. The last entry is for a group this file does not know. */
static const struct group_style group_styles[] = {
    { "article", "#d95f02" },
    { "durlog", "#1b9e77" },
    { "cap", "#7570b3" },
    { "other", "#999999" },
};

#define N_GROUP_STYLES (sizeof(group_styles) / sizeof(group_styles[0]))

static size_t group_index(const char *group)
{
    size_t i;

    for (i = 0; i < N_GROUP_STYLES - 1; i++)
        if (strcmp(group, group_styles[i].name) == 0)
            break;
    return i;
}

/* Which groups occur in the rows: the legend names only those. */
static void groups_present(const struct bench_row *rows, size_t n,
                           int present[N_GROUP_STYLES])
{
    memset(present, 0, N_GROUP_STYLES * sizeof(present[0]));
    for (size_t i = 0; i < n; i++)
        present[group_index(rows[i].group)] = 1;
}

/* A rate that can be placed on a log axis; the others (zero, negative,
 * NaN, infinite) are drawn as "n/a". */
static int has_rate(const struct bench_row *row)
{
    return row->rate > 0 && row->rate < 1e300;
}

/* Splits x > 0 into x = m * 10^exponent with 1 <= m < 10. */
static int split_decade(double x, double *mantissa)
{
    int exponent = 0;

    while (x >= 10) {
        x /= 10;
        exponent++;
    }
    while (x < 1) {
        x *= 10;
        exponent--;
    }
    *mantissa = x;
    return exponent;
}

/* log10(x) for 0 < x < 1e300, to about 1e-12: far finer than a pixel. The
 * mantissa is halved into [1, 2), where ln(r) = 2 atanh(z), z = (r-1)/(r+1)
 * <= 1/3, and the series z + z^3/3 + z^5/5 + ... converges fast. */
static double decimal_log(double x)
{
    const double ln2 = 0.69314718055994530942, ln10 = 2.30258509299404568402;
    double r, z, z2, term, sum = 0;
    int halvings = 0, exponent = split_decade(x, &r);

    while (r >= 2) {
        r /= 2;
        halvings++;
    }
    z = (r - 1) / (r + 1);
    z2 = z * z;
    term = z;
    for (int k = 1; k < 30; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return exponent + (2 * sum + halvings * ln2) / ln10;
}

/* The x axis, from 10^lo to 10^hi records/s. */
struct axis {
    int lo, hi;
};

/* Axes beyond these would mean a broken measurement, not a fast machine;
 * clamping keeps such a chart to a few dozen grid lines. */
#define AXIS_MIN_EXPONENT (-3)
#define AXIS_MAX_EXPONENT 15

/* The decades around the rates: lo strictly below the slowest row (so its
 * bar has a length) and hi above the fastest (room for its value). */
static struct axis choose_axis(const struct bench_row *rows, size_t n)
{
    struct axis axis = { 0, 1 };
    int any = 0;
    double m;

    for (size_t i = 0; i < n; i++) {
        if (!has_rate(&rows[i]))
            continue;
        int e = split_decade(rows[i].rate, &m);
        int below = m == 1 ? e - 1 : e;
        if (!any || below < axis.lo)
            axis.lo = below;
        if (!any || e + 1 > axis.hi)
            axis.hi = e + 1;
        any = 1;
    }
    if (axis.lo < AXIS_MIN_EXPONENT)
        axis.lo = AXIS_MIN_EXPONENT;
    if (axis.hi > AXIS_MAX_EXPONENT)
        axis.hi = AXIS_MAX_EXPONENT;
    if (axis.hi <= axis.lo)
        axis.hi = axis.lo + 1;
    return axis;
}

/* Where x falls on the axis, 0 (left) to 1 (right), clamped. */
static double axis_fraction(struct axis axis, double x)
{
    double f = (decimal_log(x) - axis.lo) / (axis.hi - axis.lo);

    return f < 0 ? 0 : f > 1 ? 1 : f;
}

/* The label of the grid line at 10^exponent: 0.001 ... 1, 10, 100, 1k ...
 * 100T (the clamps above keep the exponent in that range). */
static void decade_label(int exponent, char *buf, size_t size)
{
    static const char *const suffixes[] = { "", "k", "M", "G", "T" };
    static const int leading[] = { 1, 10, 100 };
    double value = 1;

    if (exponent < 0) {
        for (int e = exponent; e < 0; e++)
            value /= 10;
        snprintf(buf, size, "%.*f", -exponent, value);
    } else {
        snprintf(buf, size, "%d%s", leading[exponent % 3],
                 suffixes[exponent / 3]);
    }
}

/* The value at a bar's end: "4.5/s", "4,512/s", "8.6M/s". Full digits up
 * to a million, where they stop being readable at a glance. */
static void format_rate(double rate, char *buf, size_t size)
{
    char digits[28];

    if (rate < 10) {
        snprintf(buf, size, "%.2g/s", rate);
    } else if (rate < 999999.5) {
        bench_group_thousands((uint64_t)(rate + 0.5), digits, sizeof(digits));
        snprintf(buf, size, "%s/s", digits);
    } else if (rate < 999.95e6) {
        snprintf(buf, size, "%.1fM/s", rate / 1e6);
    } else {
        snprintf(buf, size, "%.1fG/s", rate / 1e9);
    }
}

/* Appends ", part" (or part, at the start) to the string in buf. */
static void add_part(char *buf, size_t size, const char *part)
{
    size_t len = strlen(buf);

    if (*part && len + 1 < size)
        snprintf(buf + len, size - len, "%s%s", len ? ", " : "", part);
}

#define SUBTITLE_SIZE 512

/* The subtitle's two lines: what was written, then where and when.
 * Facts that are unknown (empty) are left out. */
static void describe_run(const struct bench_facts *facts,
                         char what[SUBTITLE_SIZE], char where[SUBTITLE_SIZE])
{
    char part[160], records[32], size[32];

    what[0] = where[0] = '\0';
    if (!facts)
        return;
    if (facts->records) {
        bench_group_thousands(facts->records, records, sizeof(records));
        bench_group_thousands(facts->size, size, sizeof(size));
        snprintf(part, sizeof(part), "%s records of %s bytes", records, size);
        add_part(what, SUBTITLE_SIZE, part);
    }
    add_part(what, SUBTITLE_SIZE, facts->fs_type);
    if (facts->engine[0]) {
        snprintf(part, sizeof(part), "engine %s", facts->engine);
        add_part(what, SUBTITLE_SIZE, part);
    }
    if (facts->io[0] && strcmp(facts->io, "n/a") != 0) {
        snprintf(part, sizeof(part), "I/O mode %s", facts->io);
        add_part(what, SUBTITLE_SIZE, part);
    }
    if (facts->quick)
        add_part(what, SUBTITLE_SIZE, "quick run");
    add_part(where, SUBTITLE_SIZE, facts->cpu);
    if (facts->kernel[0]) {
        snprintf(part, sizeof(part), "Linux %s", facts->kernel);
        add_part(where, SUBTITLE_SIZE, part);
    }
    add_part(where, SUBTITLE_SIZE, facts->date);
}

/* The byte to write for c: a space for a control character (XML 1.0 cannot
 * carry them at all), '?' for a non-ASCII byte of a string that is not
 * UTF-8 (the SVG says it is UTF-8), else c itself. */
static unsigned char plain_byte(unsigned char c, int utf8)
{
    if (c < 0x20 || c == 0x7f)
        return ' ';
    if (c >= 0x80 && !utf8)
        return '?';
    return c;
}

/* Writes text as SVG character data or attribute value. */
static void svg_escape(FILE *out, const char *text)
{
    int utf8 = utf8_valid(text, strlen(text));

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        unsigned char c = plain_byte(*p, utf8);

        switch (c) {
        case '&':  fputs("&amp;", out); break;
        case '<':  fputs("&lt;", out); break;
        case '>':  fputs("&gt;", out); break;
        case '"':  fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:   fputc(c, out);
        }
    }
}

/* Characters of UTF-8 text (continuation bytes do not count): to estimate
 * how wide it is drawn. */
static size_t text_chars(const char *text)
{
    size_t chars = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        chars += (*p & 0xC0) != 0x80;
    return chars;
}

/* ---- the SVG ---- */

/* Geometry in SVG user units (pixels). The SVG has no font metrics, so
 * text widths are estimated from an average glyph of a sans font: about
 * 0.55 em, i.e. 6.6 px at 12 px; 7 leaves a margin. */
enum {
    MARGIN = 16,
    LABEL_CHAR_WIDTH = 7,       /* row labels, 12 px */
    SUBTITLE_CHAR_WIDTH = 6,    /* subtitle, 11 px */
    LABEL_GAP = 10,             /* between a row's label and its bar */
    PLOT_TOP = 112,             /* below title, subtitle and legend */
    PLOT_WIDTH = 520,           /* the axis, from 10^lo to 10^hi */
    VALUE_ROOM = 96,            /* right of the axis: "123,456/s" */
    ROW_HEIGHT = 26,
    BAR_HEIGHT = 16,
    EMPTY_BAR_WIDTH = 14,       /* the outline that marks an n/a row */
    AXIS_ROOM = 52,             /* below the rows: tick labels, axis title */
};

struct layout {
    struct axis axis;
    int width, height;
    int plot_left, plot_bottom;
};

static struct layout plan_layout(const struct bench_row *rows, size_t n,
                                 const char *what, const char *where)
{
    struct layout lay;
    size_t label_chars = 0, sub_chars = text_chars(what);
    int sub_width;

    for (size_t i = 0; i < n; i++) {
        size_t chars = text_chars(rows[i].name);
        if (chars > label_chars)
            label_chars = chars;
    }
    if (text_chars(where) > sub_chars)
        sub_chars = text_chars(where);
    lay.axis = choose_axis(rows, n);
    lay.plot_left = MARGIN + (int)label_chars * LABEL_CHAR_WIDTH + LABEL_GAP;
    lay.width = lay.plot_left + PLOT_WIDTH + VALUE_ROOM;
    sub_width = 2 * MARGIN + (int)sub_chars * SUBTITLE_CHAR_WIDTH;
    if (sub_width > lay.width)
        lay.width = sub_width;
    lay.plot_bottom = PLOT_TOP + (int)(n ? n : 1) * ROW_HEIGHT;
    lay.height = lay.plot_bottom + AXIS_ROOM;
    return lay;
}

static void svg_text(FILE *out, int x, int y, const char *attrs,
                     const char *text)
{
    fprintf(out, "<text x=\"%d\" y=\"%d\"%s>", x, y, attrs);
    svg_escape(out, text);
    fputs("</text>\n", out);
}

static void svg_heading(FILE *out, const struct layout *lay, const char *what,
                        const char *where)
{
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n",
            lay->width, lay->height, lay->width, lay->height);
    fputs("<title>" PLOT_TITLE "</title>\n", out);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", out);
    svg_text(out, MARGIN, 28, " font-size=\"16\" font-weight=\"bold\"",
             PLOT_TITLE);
    svg_text(out, MARGIN, 48, " font-size=\"11\" fill=\"#444444\"", what);
    svg_text(out, MARGIN, 64, " font-size=\"11\" fill=\"#444444\"", where);
}

/* A swatch and the name of each group that occurs, in one line. */
static void svg_legend(FILE *out, const struct bench_row *rows, size_t n)
{
    int present[N_GROUP_STYLES];
    int x = MARGIN;

    groups_present(rows, n, present);
    for (size_t g = 0; g < N_GROUP_STYLES; g++) {
        if (!present[g])
            continue;
        fprintf(out, "<rect x=\"%d\" y=\"78\" width=\"12\" height=\"12\" "
                "fill=\"%s\"/>\n", x, group_styles[g].color);
        svg_text(out, x + 18, 88, "", group_styles[g].name);
        x += 18 + (int)strlen(group_styles[g].name) * LABEL_CHAR_WIDTH + 20;
    }
}

/* A vertical line and a label at each decade, and the axis title. */
static void svg_grid(FILE *out, const struct layout *lay)
{
    int span = lay->axis.hi - lay->axis.lo;
    char label[32];

    for (int e = lay->axis.lo; e <= lay->axis.hi; e++) {
        int x = lay->plot_left + (e - lay->axis.lo) * PLOT_WIDTH / span;

        fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                "stroke=\"%s\" stroke-width=\"1\"/>\n", x, PLOT_TOP - 4, x,
                lay->plot_bottom, e == lay->axis.lo ? "#333333" : "#dddddd");
        decade_label(e, label, sizeof(label));
        svg_text(out, x, lay->plot_bottom + 16, " text-anchor=\"middle\"",
                 label);
    }
    svg_text(out, lay->plot_left + PLOT_WIDTH / 2, lay->plot_bottom + 38,
             " text-anchor=\"middle\" fill=\"#444444\"",
             "records/s (log scale)");
}

/* One row: its name left of the axis, its bar, and the value at the end. */
static void svg_row(FILE *out, const struct layout *lay,
                    const struct bench_row *row, size_t i)
{
    const char *color = group_styles[group_index(row->group)].color;
    int top = PLOT_TOP + (int)i * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2;
    int baseline = top + BAR_HEIGHT - 4;
    char value[32];
    double length;

    svg_text(out, lay->plot_left - LABEL_GAP, baseline,
             " text-anchor=\"end\"", row->name);
    if (!has_rate(row)) {
        fprintf(out, "<rect x=\"%d.5\" y=\"%d.5\" width=\"%d\" height=\"%d\" "
                "fill=\"none\" stroke=\"%s\"/>\n", lay->plot_left, top,
                EMPTY_BAR_WIDTH, BAR_HEIGHT - 1, color);
        svg_text(out, lay->plot_left + EMPTY_BAR_WIDTH + 6, baseline,
                 " fill=\"#666666\"", "n/a");
        return;
    }
    length = axis_fraction(lay->axis, row->rate) * PLOT_WIDTH;
    format_rate(row->rate, value, sizeof(value));
    fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
            "fill=\"%s\"><title>", lay->plot_left, top, length, BAR_HEIGHT,
            color);
    svg_escape(out, row->name);
    fprintf(out, ": %s, %.2f us/record</title></rect>\n", value,
            row->us_per_record);
    svg_text(out, lay->plot_left + (int)(length + 0.5) + 5, baseline,
             " font-size=\"11\"", value);
}

/* Draws the whole chart into out. The stream's error flag tells whether
 * every write succeeded. */
static void svg_render(FILE *out, const struct bench_row *rows, size_t n,
                       const struct bench_facts *facts)
{
    char what[SUBTITLE_SIZE], where[SUBTITLE_SIZE];
    struct layout lay;

    describe_run(facts, what, where);
    lay = plan_layout(rows, n, what, where);
    svg_heading(out, &lay, what, where);
    svg_legend(out, rows, n);
    svg_grid(out, &lay);
    for (size_t i = 0; i < n; i++)
        svg_row(out, &lay, &rows[i], i);
    fputs("</svg>\n", out);
}

/* "writing PATH: what failed": the message put left, or the code's text. */
static int put_failed(const char *path, int rc, const char *put_msg,
                      char *err, size_t errsize)
{
    snprintf(err, errsize, "writing %s: %s", path,
             put_msg[0] ? put_msg : durlog_strerror(rc));
    return -1;
}

int bench_plot(const char *path, const struct bench_row *rows, size_t n,
               const struct bench_facts *facts, char *err, size_t errsize)
{
    durlog_put_options opts;
    char put_msg[512] = "";
    char *svg = NULL;
    size_t len = 0;
    FILE *out;
    int rc;

    /* The chart is built in memory so that the file is written in one
     * put: a failure part way leaves nothing behind. */
    out = open_memstream(&svg, &len);
    if (!out)
        return put_failed(path, -errno, put_msg, err, errsize);
    svg_render(out, rows, n, facts);
    rc = ferror(out) ? -ENOMEM : 0;
    if (fclose(out) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0) {
        /* put's defaults: synced, mode 0666 less the umask. */
        durlog_put_options_init(&opts);
        opts.errbuf = put_msg;
        opts.errbuf_size = sizeof(put_msg);
        rc = durlog_put_buffer(path, svg, len, &opts);
    }
    free(svg);
    if (rc < 0)
        return put_failed(path, rc, put_msg, err, errsize);
    return 0;
}
