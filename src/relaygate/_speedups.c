/* relaygate._speedups: the per-event work of translated streams, the per-request governance and the
 * usage writer's per-record work, in C.
 *
 * DeltaChunk is providers/anthropic/shortcut.py's `DeltaShortcut.chunk` for the events it can
 * answer from their bytes alone: an Anthropic `content_block_delta` of the open block (nearly every
 * event of an answer). It writes the framed chat chunk (head, the delta's string as orjson writes
 * it, tail) without entering the interpreter: a string with no escape as it came, one with escapes
 * decoded and written again (`\u00e9` as UTF-8, `\/` as `/`, ...). An event that is not that
 * block's delta gets None, and its block's `content_block_stop` b"", as in Python. Anything else
 * about the string (a quote or a control character left bare, a lone surrogate, bytes that are not
 * UTF-8) goes to the Python method it was made with, so every answer is the one the Python code
 * gives: this changes what an event costs, never its bytes. `plain_slice` is Gemini's check of an
 * event of bare text, and `event_slice` that check of a whole event as it came (framing and parse
 * included), as providers/gemini/reading.py makes them. `Allowance` is governance/limits.py's
 * PyAllowance: one key's rate limits in this process, admitted and settled once per request, and
 * `rate_headers` its py_given_headers, the headers of limits shared through Redis. `ByteSet` answers
 * `search` as a regular expression of one byte class does, for the server's checks of the response
 * headers, and `response_head` writes an answer's head with them (ingress/header_checks.py).
 * `record_row` is metering/sink.py's `_Dialect.record_row`: a usage record as the row the writer
 * inserts, `SqliteWriter` the inserts on SQLite, and `journal_line` a record's line in the journal
 * (UsageRecord.to_json, byte for byte as orjson writes it). `Account`, `Hold` and `utc_today` are a
 * budget's per-request work (governance/budgets.py, shared_budgets.py), `Verdict` a rate limit's
 * admission (governance/limits.py). The module is optional: without a compiler relaygate runs the
 * Python code alone.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <dlfcn.h>
#include <math.h>
#include <stddef.h>
#include <structmember.h>
#include <string.h>
#include <time.h>

#define ABI 10 /* speedups.py refuses a build of another number: raise both when the interface changes */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *named;    /* bytes: `event:` line, `data:` and the delta's JSON up to its string's quote */
    PyObject *bare;     /* bytes: the same after `data:` alone */
    PyObject *stop;     /* bytes: the block's `content_block_stop` event, or None */
    PyObject *head;     /* bytes: the framed chunk up to the string */
    PyObject *tail;     /* bytes: and after it */
    PyObject *fallback; /* the Python `chunk(piece, end)` */
    PyObject *kept;     /* a list that keeps every piece's text (a thinking block's), or None */
} DeltaChunk;

/* The length of the character at s[0:n] when it is one a JSON string holds as it is: strict UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), not a control character, a
 * quote or a backslash; else 0. */
static Py_ssize_t
plain_char(const unsigned char *s, Py_ssize_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return c < 0x20 || c == '"' || c == '\\' ? 0 : 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* A JSON string's content with no escape that parses to itself: plain characters only. */
static int
plain_json_text(const unsigned char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t k = plain_char(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

static long
hex4(const unsigned char *s, Py_ssize_t n)
{
    if (n < 4)
        return -1;
    long value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

/* A JSON string's content s[0:n] with escapes, written into dst as orjson.dumps writes the string it
 * parses to (`"` and `\` escaped, the control characters as \b \t \n \f \r or \u00xx, everything
 * else as UTF-8, `\/` as `/`): never longer than n. The bytes written, or -1 where Python must
 * look (not JSON, a lone surrogate, bytes that are not UTF-8). */
static Py_ssize_t
reencode(const unsigned char *s, Py_ssize_t n, char *dst)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        if (s[i] != '\\') {
            Py_ssize_t k = plain_char(s + i, n - i);
            if (k == 0)
                return -1;
            memcpy(dst + o, s + i, k);
            i += k, o += k;
            continue;
        }
        if (i + 1 >= n)
            return -1;
        long cp;
        switch (s[i + 1]) {
        case '"': cp = '"'; i += 2; break;
        case '\\': cp = '\\'; i += 2; break;
        case '/': cp = '/'; i += 2; break;
        case 'b': cp = '\b'; i += 2; break;
        case 'f': cp = '\f'; i += 2; break;
        case 'n': cp = '\n'; i += 2; break;
        case 'r': cp = '\r'; i += 2; break;
        case 't': cp = '\t'; i += 2; break;
        case 'u':
            cp = hex4(s + i + 2, n - i - 2);
            if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return -1;
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* must be followed by its low half */
                long low = i + 1 < n && s[i] == '\\' && s[i + 1] == 'u' ? hex4(s + i + 2, n - i - 2) : -1;
                if (low < 0xDC00 || low > 0xDFFF)
                    return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                i += 6;
            }
            break;
        default:
            return -1;
        }
        if (cp < 0x20 || cp == '"' || cp == '\\') {
            const char *brief = cp == '"' ? "\"" : cp == '\\' ? "\\" : cp == '\b' ? "b" : cp == '\t' ? "t"
                              : cp == '\n' ? "n" : cp == '\f' ? "f" : cp == '\r' ? "r" : NULL;
            dst[o++] = '\\';
            if (brief != NULL)
                dst[o++] = brief[0];
            else {
                memcpy(dst + o, "u00", 3);
                dst[o + 3] = hex[cp >> 4], dst[o + 4] = hex[cp & 15];
                o += 5;
            }
        }
        else if (cp < 0x80)
            dst[o++] = (char)cp;
        else if (cp < 0x800) {
            dst[o++] = (char)(0xC0 | (cp >> 6));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        }
        else if (cp < 0x10000) {
            dst[o++] = (char)(0xE0 | (cp >> 12));
            dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        }
        else {
            dst[o++] = (char)(0xF0 | (cp >> 18));
            dst[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            dst[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

static int
starts_with(const char *s, Py_ssize_t n, PyObject *prefix)
{
    Py_ssize_t k = PyBytes_GET_SIZE(prefix);
    return n >= k && memcmp(s, PyBytes_AS_STRING(prefix), k) == 0;
}

/* A plain piece's text (valid UTF-8, no escape) onto the kept list. */
static int
keep(DeltaChunk *self, const char *text, Py_ssize_t length)
{
    PyObject *piece = PyUnicode_DecodeUTF8(text, length, NULL);
    if (piece == NULL)
        return -1;
    int failed = PyList_Append(self->kept, piece);
    Py_DECREF(piece);
    return failed;
}

enum { DELTA, EMPTY, NOT_MINE, ASK_PYTHON };

/* What one event, p[0:end] (the piece going on to n), is: this block's delta (DELTA, the content of
 * its string at *text, *length bytes, *escaped when it holds a backslash), the same with an empty
 * string or the block's stop (EMPTY), not this block's delta (NOT_MINE: None), or anything Python
 * must look at. */
static int
classify(DeltaChunk *self, const char *p, Py_ssize_t n, Py_ssize_t end, const char **text, Py_ssize_t *length,
         int *escaped)
{
    Py_ssize_t quote; /* where the delta's string opens */
    if (starts_with(p, n, self->named))
        quote = PyBytes_GET_SIZE(self->named) - 1;
    else if (starts_with(p, n, self->bare))
        quote = PyBytes_GET_SIZE(self->bare) - 1;
    else if (self->stop != Py_None && end == PyBytes_GET_SIZE(self->stop) && starts_with(p, n, self->stop))
        return EMPTY;
    else
        return NOT_MINE;
    /* the JSON ends `"}}`: the string's closing quote, then the delta's and the event's braces */
    if (end - 3 <= quote || memcmp(p + end - 3, "\"}}", 3) != 0)
        return ASK_PYTHON;
    *text = p + quote + 1;
    *length = end - 3 - (quote + 1);
    *escaped = *length > 0 && memchr(*text, '\\', *length) != NULL;
    if (*escaped ? self->kept != Py_None : !plain_json_text((const unsigned char *)*text, *length))
        return ASK_PYTHON; /* a kept piece with escapes: Python decodes it */
    if (self->kept != Py_None && keep(self, *text, *length) < 0)
        return -1;
    return *length == 0 ? EMPTY : DELTA;
}

/* The framed chunk of a delta at dst (room for head, length + 2 and tail): the string as orjson
 * writes it, its bytes as they came when it has no escape. Its size, or -1 where Python must look. */
static Py_ssize_t
write_chunk(DeltaChunk *self, char *dst, const char *text, Py_ssize_t length, int escaped)
{
    Py_ssize_t h = PyBytes_GET_SIZE(self->head), t = PyBytes_GET_SIZE(self->tail);
    memcpy(dst, PyBytes_AS_STRING(self->head), h);
    dst[h] = '"';
    Py_ssize_t body = length;
    if (escaped)
        body = reencode((const unsigned char *)text, length, dst + h + 1);
    else
        memcpy(dst + h + 1, text, length);
    if (body < 0)
        return -1;
    dst[h + 1 + body] = '"';
    memcpy(dst + h + 2 + body, PyBytes_AS_STRING(self->tail), t);
    return h + 2 + body + t;
}

static PyObject *
DeltaChunk_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    DeltaChunk *self = (DeltaChunk *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 2 || kwnames != NULL || !PyBytes_CheckExact(args[0]) || !PyLong_CheckExact(args[1]))
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    const char *p = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t end = PyLong_AsSsize_t(args[1]);
    if (end == -1 && PyErr_Occurred())
        return NULL;
    if (end < 0 || end > n)
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    const char *text = NULL;
    Py_ssize_t length = 0;
    int escaped = 0;
    switch (classify(self, p, n, end, &text, &length, &escaped)) {
    case -1:
        return NULL;
    case NOT_MINE:
        Py_RETURN_NONE;
    case EMPTY:
        return PyBytes_FromStringAndSize(NULL, 0);
    case ASK_PYTHON:
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    Py_ssize_t room = PyBytes_GET_SIZE(self->head) + length + 2 + PyBytes_GET_SIZE(self->tail);
    PyObject *out = PyBytes_FromStringAndSize(NULL, room);
    if (out == NULL)
        return NULL;
    Py_ssize_t size = write_chunk(self, PyBytes_AS_STRING(out), text, length, escaped);
    if (size < 0) {
        Py_DECREF(out);
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    if (size < room && _PyBytes_Resize(&out, size) < 0)
        return NULL;
    return out;
}

static Py_ssize_t
find(const char *p, Py_ssize_t n, Py_ssize_t from, const char *needle, Py_ssize_t k)
{
    while (from + k <= n) {
        const char *hit = memchr(p + from, needle[0], n - k + 1 - from);
        if (hit == NULL)
            return -1;
        if (memcmp(hit, needle, k) == 0)
            return hit - p;
        from = hit - p + 1;
    }
    return -1;
}

/* run(piece, pos, blank) -> (sent, pos, count): the events of `piece` from `pos` on, each ending
 * with `blank`, as long as each is one `__call__` answers itself (this block's delta, escapes and
 * all, an empty one, the block's stop): their framed chunks joined, where the first other event
 * begins, and how many. */
static PyObject *
DeltaChunk_run(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    DeltaChunk *self = (DeltaChunk *)op;
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "run(piece: bytes, pos: int, blank: bytes)");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(args[0]), *blank = PyBytes_AS_STRING(args[2]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]), k = PyBytes_GET_SIZE(args[2]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (pos < 0 || pos > n || k == 0) {
        PyErr_SetString(PyExc_ValueError, "run: position outside the piece, or no blank line");
        return NULL;
    }
    Py_ssize_t h = PyBytes_GET_SIZE(self->head), t = PyBytes_GET_SIZE(self->tail);
    char *buffer = NULL;
    Py_ssize_t used = 0, size = 0, count = 0;
    for (;;) {
        Py_ssize_t stop = find(p, n, pos, blank, k);
        if (stop < 0)
            break;
        const char *text = NULL;
        Py_ssize_t length = 0;
        int escaped = 0;
        int kind = classify(self, p + pos, stop - pos, stop - pos, &text, &length, &escaped);
        if (kind < 0) {
            PyMem_Free(buffer);
            return NULL;
        }
        if (kind == DELTA) {
            Py_ssize_t need = used + h + length + 2 + t;
            if (need > size) {
                size = need * 2 > 4096 ? need * 2 : 4096;
                char *grown = PyMem_Realloc(buffer, size);
                if (grown == NULL) {
                    PyMem_Free(buffer);
                    return PyErr_NoMemory();
                }
                buffer = grown;
            }
            Py_ssize_t written = write_chunk(self, buffer + used, text, length, escaped);
            if (written < 0)
                break; /* Python's, from this event on */
            used += written;
        }
        else if (kind != EMPTY)
            break;
        count++;
        pos = stop + k;
    }
    PyObject *sent = PyBytes_FromStringAndSize(buffer, used);
    PyMem_Free(buffer);
    if (sent == NULL)
        return NULL;
    return Py_BuildValue("(Nnn)", sent, pos, count);
}

static PyMethodDef DeltaChunk_methods[] = {
    {"run", (PyCFunction)(void (*)(void))DeltaChunk_run, METH_FASTCALL,
     "run(piece, pos, blank) -> (sent, pos, count): the events from pos this answers itself"},
    {NULL},
};

static PyObject *
DeltaChunk_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *named, *bare, *stop, *head, *tail, *fallback, *kept = Py_None;
    static char *names[] = {"named", "bare", "stop", "head", "tail", "fallback", "kept", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "SSOSSO|O:DeltaChunk", names, &named, &bare, &stop, &head,
                                     &tail, &fallback, &kept))
        return NULL;
    if (kept != Py_None && !PyList_CheckExact(kept)) {
        PyErr_SetString(PyExc_TypeError, "DeltaChunk: kept must be a list or None");
        return NULL;
    }
    if (PyBytes_GET_SIZE(named) == 0 || PyBytes_GET_SIZE(bare) == 0) {
        PyErr_SetString(PyExc_ValueError, "DeltaChunk: empty prefix");
        return NULL;
    }
    if (stop != Py_None && !PyBytes_Check(stop)) {
        PyErr_SetString(PyExc_TypeError, "DeltaChunk: stop must be bytes or None");
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "DeltaChunk: fallback must be callable");
        return NULL;
    }
    DeltaChunk *self = (DeltaChunk *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = DeltaChunk_call;
    self->named = Py_NewRef(named);
    self->bare = Py_NewRef(bare);
    self->stop = Py_NewRef(stop);
    self->head = Py_NewRef(head);
    self->tail = Py_NewRef(tail);
    self->fallback = Py_NewRef(fallback);
    self->kept = Py_NewRef(kept);
    return (PyObject *)self;
}

static int
DeltaChunk_traverse(DeltaChunk *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fallback);
    Py_VISIT(self->kept);
    return 0;
}

static int
DeltaChunk_clear(DeltaChunk *self)
{
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->kept);
    return 0;
}

static void
DeltaChunk_dealloc(DeltaChunk *self)
{
    PyObject_GC_UnTrack(self);
    DeltaChunk_clear(self);
    Py_CLEAR(self->named);
    Py_CLEAR(self->bare);
    Py_CLEAR(self->stop);
    Py_CLEAR(self->head);
    Py_CLEAR(self->tail);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
DeltaChunk_vectorcall_slot(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return PyVectorcall_Call(self, args, kwargs);
}

static PyTypeObject DeltaChunkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "relaygate._speedups.DeltaChunk",
    .tp_basicsize = sizeof(DeltaChunk),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "DeltaChunk(named, bare, stop, head, tail, fallback, kept=None)(piece, end): a framed chat chunk, "
              "b\"\" or None",
    .tp_new = DeltaChunk_new,
    .tp_dealloc = (destructor)DeltaChunk_dealloc,
    .tp_traverse = (traverseproc)DeltaChunk_traverse,
    .tp_clear = (inquiry)DeltaChunk_clear,
    .tp_vectorcall_offset = offsetof(DeltaChunk, vectorcall),
    .tp_call = DeltaChunk_vectorcall_slot,
    .tp_methods = DeltaChunk_methods,
};

/* plain_slice(counted, body): providers/gemini/reading.py's `plain_slice` (see it for what it
 * checks) with the `usageMetadata` keys that must hold integers (`counted`, a frozenset): the
 * event's (text, finishReason, usageMetadata) when it is one candidate's bare text, else None. */

static PyObject *k_prompt_feedback, *k_error, *k_candidates, *k_usage, *k_response_id, *k_model_version,
    *k_index, *k_content, *k_finish, *k_parts, *k_text;

static int
none_or_str(PyObject *value)
{
    return value == NULL || value == Py_None || PyUnicode_CheckExact(value);
}

static PyObject *
slice_of(PyObject *counted, PyObject *body)
{
    if (!PyDict_CheckExact(body) || PyDict_GetItemWithError(body, k_prompt_feedback)
        || PyDict_GetItemWithError(body, k_error))
        goto none;
    PyObject *candidates = PyDict_GetItemWithError(body, k_candidates);
    PyObject *usage = PyDict_GetItemWithError(body, k_usage);
    if (PyErr_Occurred())
        return NULL;
    if (candidates == NULL || !PyList_CheckExact(candidates) || PyList_GET_SIZE(candidates) != 1)
        goto none;
    if (usage != NULL && usage != Py_None) {
        if (!PyDict_CheckExact(usage))
            goto none;
        Py_ssize_t i = 0;
        PyObject *name, *count;
        while (PyDict_Next(usage, &i, &name, &count)) {
            if (!PyLong_CheckExact(count)) {
                int is_counted = PySet_Contains(counted, name);
                if (is_counted < 0)
                    return NULL;
                if (is_counted)
                    goto none;
            }
        }
    }
    if (!none_or_str(PyDict_GetItemWithError(body, k_response_id))
        || !none_or_str(PyDict_GetItemWithError(body, k_model_version)))
        goto none;
    PyObject *candidate = PyList_GET_ITEM(candidates, 0);
    if (!PyDict_CheckExact(candidate))
        goto none;
    PyObject *index = PyDict_GetItemWithError(candidate, k_index);
    if (index != NULL && index != Py_None) {
        if (!PyLong_CheckExact(index))
            goto none;
        int overflow = 0;
        long value = PyLong_AsLongAndOverflow(index, &overflow);
        if (overflow || value != 0)
            goto none;
    }
    PyObject *content = PyDict_GetItemWithError(candidate, k_content);
    PyObject *finish = PyDict_GetItemWithError(candidate, k_finish);
    if (PyErr_Occurred())
        return NULL;
    PyObject *parts = content != NULL && PyDict_CheckExact(content) ? PyDict_GetItemWithError(content, k_parts) : NULL;
    if (PyErr_Occurred())
        return NULL;
    if (parts == NULL || !PyList_CheckExact(parts) || !none_or_str(finish))
        goto none;
    Py_ssize_t n = PyList_GET_SIZE(parts);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *part = PyList_GET_ITEM(parts, i);
        if (!PyDict_CheckExact(part) || PyDict_GET_SIZE(part) != 1)
            goto none;
        PyObject *text = PyDict_GetItemWithError(part, k_text);
        if (text == NULL || !PyUnicode_CheckExact(text)) {
            if (PyErr_Occurred())
                return NULL;
            goto none;
        }
    }
    PyObject *text;
    if (n == 1)
        text = Py_NewRef(PyDict_GetItemWithError(PyList_GET_ITEM(parts, 0), k_text));
    else {
        PyObject *pieces = PyList_New(n);
        if (pieces == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < n; i++)
            PyList_SET_ITEM(pieces, i, Py_NewRef(PyDict_GetItemWithError(PyList_GET_ITEM(parts, i), k_text)));
        PyObject *empty = PyUnicode_New(0, 0);
        text = empty == NULL ? NULL : PyUnicode_Join(empty, pieces);
        Py_XDECREF(empty);
        Py_DECREF(pieces);
        if (text == NULL)
            return NULL;
    }
    return Py_BuildValue("(NOO)", text, finish == NULL ? Py_None : finish, usage == NULL ? Py_None : usage);
none:
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
plain_slice(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyAnySet_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "plain_slice(counted: frozenset, body)");
        return NULL;
    }
    return slice_of(args[0], args[1]);
}

/* event_slice(counted, loads, error, piece, end): reading.py's `python_event_slice`, a whole event
 * as it came, piece[:end]: the plain slice of its one `data:` line, parsed by `loads` (orjson's), or
 * None for anything else (other lines, JSON that `loads` rejects with `error`, not a plain slice). */
static PyObject *
event_slice(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyAnySet_Check(args[0]) || !PyBytes_CheckExact(args[3]) || !PyLong_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "event_slice(counted, loads, error, piece: bytes, end: int)");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(args[3]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[3]);
    Py_ssize_t end = PyLong_AsSsize_t(args[4]);
    if (end == -1 && PyErr_Occurred())
        return NULL;
    if (end < 0) /* as Python's slicing takes it */
        end = end + n < 0 ? 0 : end + n;
    if (end > n)
        end = n;
    if (n < 6 || memcmp(p, "data: ", 6) != 0 || memchr(p, '\n', end) != NULL || memchr(p, '\r', end) != NULL)
        Py_RETURN_NONE;
    PyObject *data = PyBytes_FromStringAndSize(end > 6 ? p + 6 : NULL, end > 6 ? end - 6 : 0);
    if (data == NULL)
        return NULL;
    PyObject *body = PyObject_CallOneArg(args[1], data);
    Py_DECREF(data);
    if (body == NULL) {
        if (!PyErr_ExceptionMatches(args[2]))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    PyObject *slice = slice_of(args[0], body);
    Py_DECREF(body);
    return slice;
}


/* Allowance: governance/limits.py's PyAllowance, the same arithmetic on the same doubles in the same
 * order (so the same answers to the bit), and the same header bytes. `packed` is KeyLimits.packed:
 * (rpm, tpm, max_concurrency, each -1 when not set, per_request, per_token, rpm's limit header,
 * tpm's). */

#define WINDOW 60.0

typedef struct {
    PyObject_HEAD
    long long rpm, tpm;      /* the limits the two were kept for; -1: none */
    double requests, tokens; /* seconds owed at `at` (at most 0: the whole allowance is there) */
    double at;
    Py_ssize_t in_flight;
} Allowance;

static PyObject *s_remaining_requests, *s_reset_requests, *s_remaining_tokens, *s_reset_tokens, *s_requests,
    *s_tokens, *s_concurrency, *s_empty;

static int
packed_of(PyObject *packed, long long *rpm, long long *tpm, long long *most, double *per_request,
          double *per_token)
{
    if (!PyTuple_CheckExact(packed) || PyTuple_GET_SIZE(packed) != 7) {
        PyErr_SetString(PyExc_TypeError, "Allowance: packed must be KeyLimits.packed");
        return -1;
    }
    *rpm = PyLong_AsLongLong(PyTuple_GET_ITEM(packed, 0));
    *tpm = PyLong_AsLongLong(PyTuple_GET_ITEM(packed, 1));
    *most = PyLong_AsLongLong(PyTuple_GET_ITEM(packed, 2));
    *per_request = PyFloat_AsDouble(PyTuple_GET_ITEM(packed, 3));
    *per_token = PyFloat_AsDouble(PyTuple_GET_ITEM(packed, 4));
    return PyErr_Occurred() ? -1 : 0;
}

/* A Python int as a long long; 1 when it is outside that range (then *out is not set). */
static int
as_count(PyObject *value, long long *out)
{
    int overflow;
    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "Allowance: token counts must be int");
        return -1;
    }
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow)
        return 1;
    if (n == -1 && PyErr_Occurred())
        return -1;
    *out = n;
    return 0;
}

/* float(int(value)), exactly as Python converts it (raising OverflowError beyond a double's range). */
static int
as_double(PyObject *value, double *out)
{
    *out = PyLong_AsDouble(value);
    return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

static double
later(double a, double b) /* Python's max(a, b) */
{
    return b > a ? b : a;
}

/* `{minutes}m{rest}s` of whole seconds beyond the long long range (OverflowError when infinite). */
static PyObject *
long_reset(double whole)
{
    PyObject *seconds = PyLong_FromDouble(whole), *sixty = seconds == NULL ? NULL : PyLong_FromLong(60);
    PyObject *split = sixty == NULL ? NULL : PyNumber_Divmod(seconds, sixty);
    Py_XDECREF(seconds);
    Py_XDECREF(sixty);
    if (split == NULL)
        return NULL;
    PyObject *text = PyUnicode_FromFormat("%Sm%Ss", PyTuple_GET_ITEM(split, 0), PyTuple_GET_ITEM(split, 1));
    Py_DECREF(split);
    if (text == NULL)
        return NULL;
    PyObject *out = PyUnicode_AsASCIIString(text);
    Py_DECREF(text);
    return out;
}

/* The decimal digits of `n`, as `%lld` writes them, at `out`; how many (at most 20). printf's
 * machinery costs ~600 instructions a number here, where this costs a few dozen. */
static int
put_decimal(char *out, long long n)
{
    char digits[20];
    int k = 0, length = 0;
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    do {
        digits[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (n < 0)
        out[length++] = '-';
    while (k)
        out[length++] = digits[--k];
    return length;
}

/* `_reset(math.ceil(seconds * 1000))`: OpenAI's duration (`0ms`, `120ms`, `1s`, `6m0s`). */
static PyObject *
reset_value(double seconds)
{
    char text[64];
    int n;
    double ms = ceil(seconds * 1000.0);
    if (ms <= 0.0)
        return PyBytes_FromStringAndSize("0ms", 3);
    if (ms < 1000.0) {
        n = put_decimal(text, (long long)ms);
        text[n++] = 'm';
    } else {
        double whole = ceil(ms / 1000.0);
        if (!(whole < 9e18)) /* a wait of an absurd usage's making: Python's ints, as the Python code */
            return long_reset(whole);
        long long s = (long long)whole;
        n = 0;
        if (s >= 60) {
            n = put_decimal(text, s / 60);
            text[n++] = 'm';
            s %= 60;
        }
        n += put_decimal(text + n, s);
    }
    text[n++] = 's';
    return PyBytes_FromStringAndSize(text, n);
}

/* Appends one limit's three headers: its limit, (remaining, `remaining`: a reference this takes) and
 * (reset, the duration of `seconds`). */
static int
append_limit(PyObject *out, PyObject *limit_header, PyObject *remaining_name, PyObject *reset_name,
             PyObject *remaining, double seconds)
{
    PyObject *reset_text = remaining == NULL ? NULL : reset_value(seconds);
    PyObject *a = reset_text == NULL ? NULL : PyTuple_Pack(2, remaining_name, remaining);
    PyObject *b = a == NULL ? NULL : PyTuple_Pack(2, reset_name, reset_text);
    int failed = b == NULL || PyList_Append(out, limit_header) < 0 || PyList_Append(out, a) < 0 ||
                 PyList_Append(out, b) < 0;
    Py_XDECREF(remaining);
    Py_XDECREF(reset_text);
    Py_XDECREF(a);
    Py_XDECREF(b);
    return failed ? -1 : 0;
}

static PyObject *
count_text(long long n)
{
    char digits[24];
    return PyBytes_FromStringAndSize(digits, put_decimal(digits, n));
}

/* Appends one limit's headers from the time owed. */
static int
add_headers(PyObject *out, PyObject *limit_header, PyObject *remaining_name, PyObject *reset_name, double used,
            long long limit, double per_unit)
{
    long long left = limit;
    double reset = 0.0;
    if (used > 0.0) {
        double units = floor((WINDOW - used) / per_unit + 1e-9);
        left = units > 0.0 ? (long long)units : 0;
        reset = used;
    }
    return append_limit(out, limit_header, remaining_name, reset_name, count_text(left), reset);
}

/* admit(packed, tokens, now) -> (allowed, headers, wait, reason) */
static PyObject *
Allowance_admit(Allowance *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long rpm, tpm, most, tokens = 0;
    double per_request, per_token;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "admit(packed, tokens, now)");
        return NULL;
    }
    int outside;
    if (packed_of(args[0], &rpm, &tpm, &most, &per_request, &per_token) < 0 || (outside = as_count(args[1], &tokens)) < 0)
        return NULL;
    double now = PyFloat_AsDouble(args[2]);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    if (self->rpm != rpm) {
        self->rpm = rpm;
        self->requests = 0.0;
    }
    if (self->tpm != tpm) {
        self->tpm = tpm;
        self->tokens = 0.0;
    }
    double gone = now - self->at;
    double owed_requests = self->requests - gone, owed_tokens = self->tokens - gone;
    double wait = 0.0, requests = owed_requests, spent = owed_tokens, over;
    PyObject *reason = s_empty;
    if (most >= 0 && self->in_flight >= most) {
        wait = 1.0;
        reason = s_concurrency;
    } else {
        if (rpm >= 0) {
            requests = later(requests, 0.0) + per_request;
            if ((over = requests - WINDOW) > 1e-9) {
                wait = over;
                reason = s_requests;
                requests = owed_requests;
            }
        }
        if (tpm >= 0 && reason == s_empty) {
            double units = (double)tpm; /* min(tokens, tpm), as a double */
            if (outside) {
                if (_PyLong_Sign(args[1]) < 0 && as_double(args[1], &units) < 0)
                    return NULL;
            } else if (tokens < tpm) {
                units = (double)tokens;
            }
            spent = later(spent, 0.0) + units * per_token;
            if ((over = spent - WINDOW) > 1e-9) {
                wait = over;
                reason = s_tokens;
                requests = owed_requests;
                spent = owed_tokens;
            }
        }
        if (reason == s_empty) {
            self->requests = requests;
            self->tokens = spent;
            self->at = now;
            if (most >= 0)
                self->in_flight++;
        }
    }
    PyObject *headers = PyList_New(0);
    if (headers == NULL)
        return NULL;
    if ((rpm >= 0 && add_headers(headers, PyTuple_GET_ITEM(args[0], 5), s_remaining_requests, s_reset_requests,
                                 requests, rpm, per_request) < 0) ||
        (tpm >= 0 && add_headers(headers, PyTuple_GET_ITEM(args[0], 6), s_remaining_tokens, s_reset_tokens, spent,
                                 tpm, per_token) < 0)) {
        Py_DECREF(headers);
        return NULL;
    }
    PyObject *waited = PyFloat_FromDouble(wait);
    if (waited == NULL) {
        Py_DECREF(headers);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(4, reason == s_empty ? Py_True : Py_False, headers, waited, reason);
    Py_DECREF(headers);
    Py_DECREF(waited);
    return out;
}

/* settle(packed, reserved, used, now) */
static PyObject *
Allowance_settle(Allowance *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long rpm, tpm, most;
    double per_request, per_token;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "settle(packed, reserved, used, now)");
        return NULL;
    }
    if (packed_of(args[0], &rpm, &tpm, &most, &per_request, &per_token) < 0)
        return NULL;
    double now = PyFloat_AsDouble(args[3]);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    if (most >= 0 && self->in_flight)
        self->in_flight--;
    if (tpm >= 0 && args[2] != Py_None && self->tpm == tpm) {
        long long reserved = 0, used = 0;
        int reserved_outside = as_count(args[1], &reserved), used_outside;
        if (reserved_outside < 0 || (used_outside = as_count(args[2], &used)) < 0)
            return NULL;
        /* kept = min(reserved, tpm); `low`: that is reserved itself, below the long long range */
        long long kept = tpm;
        int low = 0;
        if (reserved_outside)
            low = _PyLong_Sign(args[1]) < 0;
        else if (reserved < tpm)
            kept = reserved;
        double back; /* float(kept - used): exact in Python's ints, then rounded once */
        if (!low && !used_outside &&
            !((used > 0 && kept < LLONG_MIN + used) || (used < 0 && kept > LLONG_MAX + used))) {
            back = (double)(kept - used);
        } else {
            PyObject *low_value = low ? Py_NewRef(args[1]) : PyLong_FromLongLong(kept);
            PyObject *diff = low_value == NULL ? NULL : PyNumber_Subtract(low_value, args[2]);
            Py_XDECREF(low_value);
            if (diff == NULL)
                return NULL;
            int failed = as_double(diff, &back);
            Py_DECREF(diff);
            if (failed)
                return NULL;
        }
        double gone = now - self->at;
        back *= per_token;
        self->requests = later(self->requests - gone, 0.0);
        self->tokens = later(self->tokens - gone - back, 0.0);
        self->at = now;
    }
    Py_RETURN_NONE;
}

/* rate_headers(packed, left_requests, reset_requests, left_tokens, reset_tokens): governance/limits.py's
 * rate_headers of a KeyLimits' packed form, each limit's remaining units and seconds to its reset given
 * (as the shared limits know them). */
static int
add_given(PyObject *out, PyObject *limit_header, PyObject *remaining_name, PyObject *reset_name, PyObject *left,
          PyObject *reset)
{
    long long n;
    int outside = as_count(left, &n);
    double seconds = PyFloat_AsDouble(reset);
    if (outside < 0 || (seconds == -1.0 && PyErr_Occurred()))
        return -1;
    PyObject *remaining;
    if (outside) {
        PyObject *text = PyObject_Str(left);
        remaining = text == NULL ? NULL : PyUnicode_AsASCIIString(text);
        Py_XDECREF(text);
    } else {
        remaining = count_text(n);
    }
    return append_limit(out, limit_header, remaining_name, reset_name, remaining, seconds);
}

static PyObject *
rate_headers(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 7) {
        PyErr_SetString(PyExc_TypeError, "rate_headers(packed, left_requests, reset_requests, left_tokens, reset_tokens)");
        return NULL;
    }
    PyObject *rpm_header = PyTuple_GET_ITEM(args[0], 5), *tpm_header = PyTuple_GET_ITEM(args[0], 6);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    if ((rpm_header != Py_None &&
         add_given(out, rpm_header, s_remaining_requests, s_reset_requests, args[1], args[2]) < 0) ||
        (tpm_header != Py_None && add_given(out, tpm_header, s_remaining_tokens, s_reset_tokens, args[3], args[4]) < 0)) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *
Allowance_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) || (kwargs != NULL && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "Allowance() takes no arguments");
        return NULL;
    }
    Allowance *self = (Allowance *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->rpm = self->tpm = -1;
    self->requests = self->tokens = 0.0;
    self->at = -INFINITY;
    self->in_flight = 0;
    return (PyObject *)self;
}

static PyMethodDef Allowance_methods[] = {
    {"admit", (PyCFunction)(void (*)(void))Allowance_admit, METH_FASTCALL,
     "admit(packed, tokens, now) -> (allowed, headers, wait, reason)"},
    {"settle", (PyCFunction)(void (*)(void))Allowance_settle, METH_FASTCALL, "settle(packed, reserved, used, now)"},
    {NULL},
};

static PyMemberDef Allowance_members[] = {
    {"rpm", T_LONGLONG, offsetof(Allowance, rpm), 0, NULL},
    {"tpm", T_LONGLONG, offsetof(Allowance, tpm), 0, NULL},
    {"requests", T_DOUBLE, offsetof(Allowance, requests), 0, NULL},
    {"tokens", T_DOUBLE, offsetof(Allowance, tokens), 0, NULL},
    {"at", T_DOUBLE, offsetof(Allowance, at), 0, NULL},
    {"in_flight", T_PYSSIZET, offsetof(Allowance, in_flight), 0, NULL},
    {NULL},
};

static PyTypeObject AllowanceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "relaygate._speedups.Allowance",
    .tp_basicsize = sizeof(Allowance),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Allowance(): one key's rate limits in this process (governance/limits.py's PyAllowance)",
    .tp_new = Allowance_new,
    .tp_methods = Allowance_methods,
    .tp_members = Allowance_members,
};

/* A set of byte values whose `search(data)` answers as a compiled regular expression of one byte
 * class does, for truth: True when a byte of `data` is in the set, else None. Made from 256 flags. */
typedef struct {
    PyObject_HEAD
    unsigned char member[256];
} ByteSet;

static PyObject *
ByteSet_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Py_buffer flags;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "ByteSet() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*:ByteSet", &flags))
        return NULL;
    if (flags.len != 256) {
        PyBuffer_Release(&flags);
        PyErr_SetString(PyExc_ValueError, "ByteSet() takes 256 flags, one per byte value");
        return NULL;
    }
    ByteSet *self = (ByteSet *)type->tp_alloc(type, 0);
    if (self != NULL)
        for (int i = 0; i < 256; i++)
            self->member[i] = ((const unsigned char *)flags.buf)[i] != 0;
    PyBuffer_Release(&flags);
    return (PyObject *)self;
}

/* Whether any of the `n` bytes at `p` is in the set. */
static int
any_member(const ByteSet *set, const unsigned char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (set->member[p[i]])
            return 1;
    return 0;
}

static PyObject *
ByteSet_search(ByteSet *self, PyObject *data)
{
    Py_buffer view;
    const unsigned char *p;
    Py_ssize_t n;
    int viewed = PyBytes_CheckExact(data) ? 0 : 1;
    if (viewed) {
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        p = view.buf;
        n = view.len;
    } else {
        p = (const unsigned char *)PyBytes_AS_STRING(data);
        n = PyBytes_GET_SIZE(data);
    }
    int found = any_member(self, p, n);
    if (viewed)
        PyBuffer_Release(&view);
    if (found)
        Py_RETURN_TRUE;
    Py_RETURN_NONE;
}

static PyMethodDef ByteSet_methods[] = {
    {"search", (PyCFunction)ByteSet_search, METH_O,
     "search(data) -> True when a byte of data is in the set, else None"},
    {NULL},
};

static PyTypeObject ByteSetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "relaygate._speedups.ByteSet",
    .tp_basicsize = sizeof(ByteSet),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ByteSet(flags): byte values, searched for as one regular expression byte class is",
    .tp_new = ByteSet_new,
    .tp_methods = ByteSet_methods,
};

/* metering/sink.py's `_Dialect.record_row`: a UsageRecord (the last argument, so that a partial holds
 * the others) as the values of its row, in RECORD_COLUMNS order. `money_of` makes the cost's stored
 * form and `moment_of` the time's; `dumps` is orjson's (the attempts as JSON text). With `sqlite`
 * true the two flags are ints (0/1, as `int()` makes them) and a time whose zone is `timezone.utc`
 * is written here as SQLite's text, `YYYY-MM-DD HH:MM:SS.ffffff`, as `_sqlite_time_of` writes it
 * (any other goes to `moment_of`); else the flags are bools and every time goes to `moment_of`. */
enum { R_REQUEST_ID, R_KEY, R_MODEL, R_PROVIDER, R_UPSTREAM_MODEL, R_PROMPT, R_COMPLETION, R_REASONING, R_CACHED,
       R_COST, R_LATENCY, R_TTFT, R_STATUS, R_ERROR_CODE, R_STREAM, R_ESTIMATED, R_ATTEMPTS, R_CREATED,
       R_CLIENT_ID, R_COLUMNS };
static PyObject *record_fields[R_COLUMNS];
/* Where the last record type seen keeps each field (a class with __slots__, as UsageRecord is: its
 * member descriptors' offsets), read there directly: a lookup through the type costs ~170 instructions
 * a field. 0: read through getattr (a field that is no plain slot, another type). */
static PyTypeObject *record_type;
static unsigned int record_version; /* the type's version tag when learnt: a change to the class changes it */
static Py_ssize_t record_offsets[R_COLUMNS];

static void
learn_record_type(PyTypeObject *type)
{
    Py_XDECREF(record_type);
    record_type = (PyTypeObject *)Py_NewRef(type);
    int generic = type->tp_getattro == PyObject_GenericGetAttr;
    for (int i = 0; i < R_COLUMNS; i++) {
        PyObject *descriptor = generic ? _PyType_Lookup(type, record_fields[i]) : NULL;
        record_offsets[i] = 0;
        if (descriptor != NULL && Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
            PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
            if (member->type == T_OBJECT_EX && !(member->flags & READ_RESTRICTED))
                record_offsets[i] = member->offset;
        }
    }
    /* with no valid tag (none could be given), nothing is read directly */
    record_version = PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
    if (record_version == 0)
        memset(record_offsets, 0, sizeof(record_offsets));
}

static PyObject *
record_field(PyObject *record, int i)
{
    if (record_offsets[i]) {
        PyObject *value = *(PyObject **)((char *)record + record_offsets[i]);
        if (value != NULL)
            return Py_NewRef(value);
    }
    return PyObject_GetAttr(record, record_fields[i]); /* also the AttributeError of a slot never set */
}

static void
digits(char *out, int value, int width)
{
    for (int i = width - 1; i >= 0; i--, value /= 10)
        out[i] = (char)('0' + value % 10);
}

static PyObject *
sqlite_time(PyObject *moment)
{
    char text[26]; /* 2026-11-23 21:51:35.485490 */
    digits(text, PyDateTime_GET_YEAR(moment), 4);
    text[4] = '-';
    digits(text + 5, PyDateTime_GET_MONTH(moment), 2);
    text[7] = '-';
    digits(text + 8, PyDateTime_GET_DAY(moment), 2);
    text[10] = ' ';
    digits(text + 11, PyDateTime_DATE_GET_HOUR(moment), 2);
    text[13] = ':';
    digits(text + 14, PyDateTime_DATE_GET_MINUTE(moment), 2);
    text[16] = ':';
    digits(text + 17, PyDateTime_DATE_GET_SECOND(moment), 2);
    text[19] = '.';
    digits(text + 20, PyDateTime_DATE_GET_MICROSECOND(moment), 6);
    return PyUnicode_DecodeASCII(text, sizeof(text), NULL);
}

/* SQLite's money (whole units of 1e-10 USD, as money.units_of makes them) of a Decimal whose text is
 * plain digits with at most MONEY_SCALE after the point (`0.0000405000`, `12`, `-0.5`), read off its
 * text (a third of the cost of units_of's division and rounding); NULL, no error set, for any other
 * (an exponent, more digits, too large, not a Decimal): units_of answers those. */
#define MONEY_SCALE 10
static PyObject *decimal_type; /* decimal.Decimal, looked up when the module is made */

static PyObject *
sqlite_money(PyObject *amount)
{
    if ((PyObject *)Py_TYPE(amount) != decimal_type)
        return NULL;
    PyObject *text = PyObject_Str(amount);
    if (text == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(text, &n);
    long long units = 0;
    int ok = p != NULL, negative = 0, whole = 0, fraction = -1;
    Py_ssize_t i = 0;
    if (ok && i < n && p[i] == '-') {
        negative = 1;
        i++;
    }
    for (; ok && i < n; i++) {
        if (p[i] == '.' && fraction < 0 && whole > 0) {
            fraction = 0;
            continue;
        }
        if (p[i] < '0' || p[i] > '9') {
            ok = 0;
            break;
        }
        if (fraction >= 0 ? ++fraction > MONEY_SCALE : ++whole > 8) { /* 8 whole digits: no overflow */
            ok = 0;
            break;
        }
        units = units * 10 + (p[i] - '0');
    }
    ok = ok && whole > 0 && fraction != 0;
    Py_DECREF(text);
    if (!ok) {
        PyErr_Clear();
        return NULL;
    }
    for (int k = fraction < 0 ? 0 : fraction; k < MONEY_SCALE; k++)
        units *= 10;
    return PyLong_FromLongLong(negative ? -units : units);
}

static PyObject *
flag_of(PyObject *value, int sqlite)
{
    if (sqlite)
        return PyNumber_Long(value);
    int truth = PyObject_IsTrue(value);
    if (truth < 0)
        return NULL;
    return Py_NewRef(truth ? Py_True : Py_False);
}

static PyObject *
record_row(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "record_row(money_of, moment_of, sqlite, dumps, record)");
        return NULL;
    }
    PyObject *money_of = args[0], *moment_of = args[1], *dumps = args[3], *record = args[4];
    int sqlite = PyObject_IsTrue(args[2]);
    if (sqlite < 0)
        return NULL;
    PyTypeObject *type = Py_TYPE(record);
    if (type != record_type || !PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ||
        type->tp_version_tag != record_version)
        learn_record_type(type);
    PyObject *row = PyTuple_New(R_COLUMNS);
    if (row == NULL)
        return NULL;
    for (int i = 0; i < R_COLUMNS; i++) {
        PyObject *value = record_field(record, i), *stored = value;
        if (value == NULL)
            goto failed;
        switch (i) {
        case R_COST:
            stored = sqlite ? sqlite_money(value) : NULL;
            if (stored == NULL && !PyErr_Occurred())
                stored = PyObject_CallOneArg(money_of, value);
            break;
        case R_STREAM:
        case R_ESTIMATED:
            stored = flag_of(value, sqlite);
            break;
        case R_ATTEMPTS: {
            PyObject *text = PyObject_CallOneArg(dumps, value);
            stored = NULL;
            if (text != NULL && PyBytes_Check(text))
                stored = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text), NULL);
            else if (text != NULL)
                PyErr_SetString(PyExc_TypeError, "dumps() gave no bytes");
            Py_XDECREF(text);
            break;
        }
        case R_CREATED:
            if (sqlite && PyDateTime_CheckExact(value) && PyDateTime_DATE_GET_TZINFO(value) == PyDateTime_TimeZone_UTC)
                stored = sqlite_time(value);
            else
                stored = PyObject_CallOneArg(moment_of, value);
            break;
        default:
            break;
        }
        if (stored != value)
            Py_DECREF(value);
        if (stored == NULL)
            goto failed;
        PyTuple_SET_ITEM(row, i, stored);
    }
    return row;
failed:
    Py_DECREF(row);
    return NULL;
}

/* journal_line(attempt_type, record): metering/usage.py's `UsageRecord.to_json(OPT_APPEND_NEWLINE)`,
 * the journal's line of a record, byte for byte as orjson writes it, with no tuple made and no call
 * into orjson; None for a record holding anything else than what records hold (a str, an int within
 * 64 bits, None, a bool, a Decimal cost, an aware UTC time, attempts of `attempt_type` whose values
 * are those): the Python code writes that one (or raises as it does). */
typedef struct {
    char *data;
    Py_ssize_t length, room;
    char small[1024];
} Line;

static int
line_room(Line *line, Py_ssize_t more)
{
    if (line->length + more <= line->room)
        return 0;
    Py_ssize_t room = (line->length + more) * 2;
    char *data = line->data == line->small ? PyMem_Malloc(room) : PyMem_Realloc(line->data, room);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (line->data == line->small)
        memcpy(data, line->small, line->length);
    line->data = data;
    line->room = room;
    return 0;
}

static int
line_put(Line *line, const char *text, Py_ssize_t n)
{
    if (line_room(line, n) < 0)
        return -1;
    memcpy(line->data + line->length, text, n);
    line->length += n;
    return 0;
}

/* The bytes a JSON string must escape: `"`, `\` and the control characters (set when the module is made). */
static unsigned char json_escaped[256];

/* How many bytes of `p` from its start need no escape: eight at a time while none of them is below
 * 0x20, `"` or `\` (bytes from 0x80 up, UTF-8's, need none), then byte by byte up to the first. */
static Py_ssize_t
plain_prefix(const char *p, Py_ssize_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, quote, slash;
        memcpy(&w, p + i, 8);
        quote = w ^ (ones * '"');
        slash = w ^ (ones * '\\');
        /* a byte below 0x20 (high bit clear), or one equal to `"` or `\`: a zero byte of quote or slash */
        if (((w - ones * 0x20) & ~w & highs) | ((quote - ones) & ~quote & highs) | ((slash - ones) & ~slash & highs))
            break;
    }
    while (i < n && !json_escaped[(unsigned char)p[i]])
        i++;
    return i;
}

/* A str as orjson writes it: `"`, `\` and the control characters escaped, the rest as UTF-8. 1: not
 * a str that UTF-8 can hold (a lone surrogate: orjson raises). */
static int
line_string(Line *line, PyObject *text)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(text, &n);
    if (p == NULL) {
        PyErr_Clear();
        return 1;
    }
    Py_ssize_t plain = plain_prefix(p, n); /* where the first byte to escape is (n: none) */
    if (line_room(line, plain == n ? n + 2 : n * 6 + 2) < 0) /* most strings need no escape: room for them alone */
        return -1;
    char *out = line->data + line->length;
    *out++ = '"';
    for (Py_ssize_t i = 0;; plain = i + plain_prefix(p + i, n - i)) {
        memcpy(out, p + i, plain - i);
        out += plain - i;
        if (plain == n)
            break;
        unsigned char c = (unsigned char)p[plain];
        i = plain + 1;
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            memcpy(out, "u00", 3);
            out[3] = hex[c >> 4];
            out[4] = hex[c & 15];
            out += 5;
        }
    }
    *out++ = '"';
    line->length = out - line->data;
    return 0;
}

/* A plain value (str, int within 64 bits, None, bool); 1: another. */
static int
line_value(Line *line, PyObject *value)
{
    if (value == Py_None)
        return line_put(line, "null", 4);
    if (value == Py_True)
        return line_put(line, "true", 4);
    if (value == Py_False)
        return line_put(line, "false", 5);
    if (PyUnicode_CheckExact(value))
        return line_string(line, value);
    if (PyLong_CheckExact(value)) {
        long long n;
        Py_ssize_t size = Py_SIZE(value);
        if (size >= -1 && size <= 1) { /* one digit at most: most counts */
            n = size * (long long)((PyLongObject *)value)->ob_digit[0];
        } else {
            int overflow;
            n = PyLong_AsLongLongAndOverflow(value, &overflow);
            if (overflow)
                return 1;
        }
        if (line_room(line, 24) < 0)
            return -1;
        line->length += put_decimal(line->data + line->length, n);
        return 0;
    }
    return 1;
}

/* An aware UTC datetime as orjson writes it: microseconds only when there are any. */
static int
line_time(Line *line, PyObject *moment)
{
    if (!PyDateTime_CheckExact(moment) || PyDateTime_DATE_GET_TZINFO(moment) != PyDateTime_TimeZone_UTC)
        return 1;
    char text[34] = "\"0000-00-00T00:00:00";
    int micro = PyDateTime_DATE_GET_MICROSECOND(moment), n = 20;
    digits(text + 1, PyDateTime_GET_YEAR(moment), 4);
    digits(text + 6, PyDateTime_GET_MONTH(moment), 2);
    digits(text + 9, PyDateTime_GET_DAY(moment), 2);
    digits(text + 12, PyDateTime_DATE_GET_HOUR(moment), 2);
    digits(text + 15, PyDateTime_DATE_GET_MINUTE(moment), 2);
    digits(text + 18, PyDateTime_DATE_GET_SECOND(moment), 2);
    if (micro) {
        text[n++] = '.';
        digits(text + n, micro, 6);
        n += 6;
    }
    memcpy(text + n, "+00:00\"", 7);
    return line_put(line, text, n + 7);
}

/* The attempts: a tuple of `attempt_type` instances, each written as orjson writes a dataclass with a
 * __dict__ (its items in order, names beginning with `_` left out). */
static int
line_attempts(Line *line, PyObject *attempts, PyObject *attempt_type)
{
    if (!PyTuple_CheckExact(attempts))
        return 1;
    int failed = line_put(line, "[", 1);
    for (Py_ssize_t i = 0; !failed && i < PyTuple_GET_SIZE(attempts); i++) {
        PyObject *attempt = PyTuple_GET_ITEM(attempts, i);
        PyObject **slot = (PyObject *)Py_TYPE(attempt) == attempt_type ? _PyObject_GetDictPtr(attempt) : NULL;
        if (slot == NULL || *slot == NULL || !PyDict_CheckExact(*slot))
            return 1;
        PyObject *name, *value;
        Py_ssize_t at = 0;
        int first = 1;
        failed = line_put(line, i ? ",{" : "{", i ? 2 : 1);
        while (!failed && PyDict_Next(*slot, &at, &name, &value)) {
            if (!PyUnicode_CheckExact(name))
                return 1;
            if (PyUnicode_GET_LENGTH(name) && PyUnicode_READ_CHAR(name, 0) == '_')
                continue;
            if (!first && (failed = line_put(line, ",", 1)))
                break;
            first = 0;
            if ((failed = line_string(line, name)) || (failed = line_put(line, ":", 1)) ||
                (failed = line_value(line, value)))
                break;
        }
        if (!failed)
            failed = line_put(line, "}", 1);
    }
    return failed ? failed : line_put(line, "]", 1);
}

static int
line_field(Line *line, int i, PyObject *value, PyObject *attempt_type)
{
    switch (i) {
    case R_COST: {
        if ((PyObject *)Py_TYPE(value) != decimal_type)
            return 1;
        PyObject *text = PyObject_Str(value);
        if (text == NULL)
            return -1;
        int failed = line_string(line, text);
        Py_DECREF(text);
        return failed;
    }
    case R_ATTEMPTS:
        return line_attempts(line, value, attempt_type);
    case R_CREATED:
        return line_time(line, value);
    default:
        return line_value(line, value);
    }
}

/* The record's line into `line` (its buffer the caller's to free): 0, or 1 for a record the Python
 * writes, or -1 with an exception set. */
static int
line_of_record(Line *line, PyObject *attempt_type, PyObject *record)
{
    PyTypeObject *type = Py_TYPE(record);
    if (type != record_type || !PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ||
        type->tp_version_tag != record_version)
        learn_record_type(type);
    line->data = line->small; /* its buffer not cleared: only what is written is read */
    line->length = 0;
    line->room = sizeof(line->small);
    int failed = line_put(line, "[", 1);
    for (int i = 0; !failed && i < R_COLUMNS; i++) {
        PyObject *value = record_field(record, i);
        if (value == NULL)
            return -1;
        failed = i ? line_put(line, ",", 1) : 0;
        if (!failed)
            failed = line_field(line, i, value, attempt_type);
        Py_DECREF(value);
    }
    return failed ? failed : line_put(line, "]\n", 2);
}

static PyObject *
journal_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "journal_line(attempt_type, record)");
        return NULL;
    }
    Line line;
    int failed = line_of_record(&line, args[0], args[1]);
    PyObject *out = failed == 0 ? PyBytes_FromStringAndSize(line.data, line.length)
                    : failed > 0 ? Py_NewRef(Py_None) : NULL;
    if (line.data != line.small)
        PyMem_Free(line.data);
    return out;
}

/* journal_write(attempt_type, map, start, record): the record's line (journal_line's bytes) written
 * straight into `map` (a writable buffer: the journal's memory map) at `start`, with no bytes object
 * made and no slice assignment; answers the offset past it. Where it does not fit (or `map` is None),
 * the line as bytes, for the journal to grow its file and put it; None for a record the Python writes. */
static PyObject *
journal_write(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4 || !PyLong_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "journal_write(attempt_type, map, start: int, record)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[2]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    if (start < 0) {
        PyErr_SetString(PyExc_ValueError, "journal_write: a negative start");
        return NULL;
    }
    Line line;
    int failed = line_of_record(&line, args[0], args[3]);
    PyObject *out = NULL;
    if (failed > 0) {
        out = Py_NewRef(Py_None);
    } else if (failed == 0) {
        Py_buffer view;
        if (args[1] == Py_None) {
            out = PyBytes_FromStringAndSize(line.data, line.length);
        } else if (PyObject_GetBuffer(args[1], &view, PyBUF_WRITABLE) == 0) {
            if (start <= view.len && line.length <= view.len - start) {
                memcpy((char *)view.buf + start, line.data, line.length);
                out = PyLong_FromSsize_t(start + line.length);
            } else {
                out = PyBytes_FromStringAndSize(line.data, line.length);
            }
            PyBuffer_Release(&view);
        }
    }
    if (line.data != line.small)
        PyMem_Free(line.data);
    return out;
}

/* ingress/header_checks.py's response head: the status line, the server's default headers and the
 * answer's, each name lowercased, checked against two ByteSets (a name's and a value's), and the
 * head's blank line; with no content-length and `may_chunk`, `transfer-encoding: chunked` before it.
 * Returns (head, content length or -1), or None for anything the server's own code must see: a
 * header that is not a pair of bytes, one the sets refuse (the server raises), a transfer-encoding
 * or connection header, a content-length that is not plain digits. */
static const char CHUNKED[] = "transfer-encoding: chunked\r\n";

static int
header_pair(PyObject *item, ByteSet *names, ByteSet *values, PyObject **name, PyObject **value)
{
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2)
        return 0;
    *name = PyTuple_GET_ITEM(item, 0);
    *value = PyTuple_GET_ITEM(item, 1);
    if (!PyBytes_CheckExact(*name) || !PyBytes_CheckExact(*value))
        return 0;
    return !any_member(names, (const unsigned char *)PyBytes_AS_STRING(*name), PyBytes_GET_SIZE(*name)) &&
           !any_member(values, (const unsigned char *)PyBytes_AS_STRING(*value), PyBytes_GET_SIZE(*value));
}

static int
lowered_is(PyObject *name, const char *lower)
{
    Py_ssize_t n = PyBytes_GET_SIZE(name);
    if ((size_t)n != strlen(lower))
        return 0;
    const char *p = PyBytes_AS_STRING(name);
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return 0;
    }
    return 1;
}

static PyObject *
response_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyBytes_CheckExact(args[0]) || !PyList_CheckExact(args[1]) ||
        !Py_IS_TYPE(args[3], &ByteSetType) || !Py_IS_TYPE(args[4], &ByteSetType)) {
        PyErr_SetString(PyExc_TypeError,
                        "response_head(status_line, default_headers, headers, names, values, may_chunk)");
        return NULL;
    }
    PyObject *line = args[0], *defaults = args[1], *given = args[2];
    ByteSet *names = (ByteSet *)args[3], *values = (ByteSet *)args[4];
    int may_chunk = PyObject_IsTrue(args[5]);
    if (may_chunk < 0)
        return NULL;
    if (!PyList_CheckExact(given) && !PyTuple_CheckExact(given))
        Py_RETURN_NONE;
    PyObject **parts[2] = {PySequence_Fast_ITEMS(defaults), PySequence_Fast_ITEMS(given)};
    Py_ssize_t counts[2] = {PyList_GET_SIZE(defaults), PySequence_Fast_GET_SIZE(given)};
    Py_ssize_t size = PyBytes_GET_SIZE(line) + 2, length = -1;
    for (int part = 0; part < 2; part++)
        for (Py_ssize_t i = 0; i < counts[part]; i++) {
            PyObject *name, *value;
            if (!header_pair(parts[part][i], names, values, &name, &value) ||
                lowered_is(name, "transfer-encoding") || lowered_is(name, "connection"))
                Py_RETURN_NONE;
            if (length < 0 && lowered_is(name, "content-length")) {
                Py_ssize_t n = PyBytes_GET_SIZE(value);
                const char *p = PyBytes_AS_STRING(value);
                if (n < 1 || n > 18)
                    Py_RETURN_NONE;
                length = 0;
                for (Py_ssize_t k = 0; k < n; k++) {
                    if (p[k] < '0' || p[k] > '9')
                        Py_RETURN_NONE;
                    length = length * 10 + (p[k] - '0');
                }
            }
            size += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4;
        }
    int chunked = length < 0 && may_chunk;
    if (chunked)
        size += (Py_ssize_t)sizeof(CHUNKED) - 1;
    PyObject *head = PyBytes_FromStringAndSize(NULL, size);
    if (head == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(head);
    memcpy(out, PyBytes_AS_STRING(line), PyBytes_GET_SIZE(line));
    out += PyBytes_GET_SIZE(line);
    for (int part = 0; part < 2; part++)
        for (Py_ssize_t i = 0; i < counts[part]; i++) {
            PyObject *name = PyTuple_GET_ITEM(parts[part][i], 0), *value = PyTuple_GET_ITEM(parts[part][i], 1);
            const char *p = PyBytes_AS_STRING(name);
            for (Py_ssize_t k = 0, n = PyBytes_GET_SIZE(name); k < n; k++)
                *out++ = (p[k] >= 'A' && p[k] <= 'Z') ? (char)(p[k] - 'A' + 'a') : p[k];
            *out++ = ':';
            *out++ = ' ';
            memcpy(out, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
            out += PyBytes_GET_SIZE(value);
            *out++ = '\r';
            *out++ = '\n';
        }
    if (chunked) {
        memcpy(out, CHUNKED, sizeof(CHUNKED) - 1);
        out += sizeof(CHUNKED) - 1;
    }
    *out++ = '\r';
    *out++ = '\n';
    return Py_BuildValue("(Nn)", head, length);
}

/* Account: governance/budgets.py's PyAccount (one key's spend today, this month and in total, and
 * what requests in flight reserved): the same arithmetic on the same objects (Decimal, or any
 * number), one call where the Python took several. */

static PyObject *money_zero; /* Decimal(0): a count's start, and the least a reservation comes back to */
static PyObject *s_daily, *s_monthly;

typedef struct {
    PyObject_HEAD
    PyObject *day; /* the date the day's count is of */
    int year, month; /* and the month's */
    PyObject *today, *this_month, *total, *reserved;
} Account;

static int
date_parts(PyObject *day, int *year, int *month)
{
    if (!PyDate_Check(day)) {
        PyErr_SetString(PyExc_TypeError, "Account: day must be a datetime.date");
        return -1;
    }
    *year = PyDateTime_GET_YEAR(day);
    *month = PyDateTime_GET_MONTH(day);
    return 0;
}

static PyObject *
Account_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *day;
    int year, month;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Account(day) takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "Account", 1, 1, &day) || date_parts(day, &year, &month) < 0)
        return NULL;
    Account *self = (Account *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->day = Py_NewRef(day);
    self->year = year;
    self->month = month;
    self->today = Py_NewRef(money_zero);
    self->this_month = Py_NewRef(money_zero);
    self->total = Py_NewRef(money_zero);
    self->reserved = Py_NewRef(money_zero);
    return (PyObject *)self;
}

static void
Account_dealloc(Account *self)
{
    Py_XDECREF(self->day);
    Py_XDECREF(self->today);
    Py_XDECREF(self->this_month);
    Py_XDECREF(self->total);
    Py_XDECREF(self->reserved);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A new day starts its count at zero, and a new month its own. */
static int
account_roll(Account *self, PyObject *day)
{
    if (day == self->day)
        return 0;
    int other = PyObject_RichCompareBool(day, self->day, Py_NE), year, month;
    if (other <= 0)
        return other;
    if (date_parts(day, &year, &month) < 0)
        return -1;
    Py_SETREF(self->day, Py_NewRef(day));
    Py_SETREF(self->today, Py_NewRef(money_zero));
    if (year != self->year || month != self->month) {
        self->year = year;
        self->month = month;
        Py_SETREF(self->this_month, Py_NewRef(money_zero));
    }
    return 0;
}

static PyObject * /* borrowed */
account_spent(Account *self, PyObject *period)
{
    if (PyUnicode_Check(period)) {
        if (period == s_daily || PyUnicode_Compare(period, s_daily) == 0)
            return self->today;
        if (period == s_monthly || PyUnicode_Compare(period, s_monthly) == 0)
            return self->this_month;
    }
    return self->total;
}

static int
add_to(PyObject **count, PyObject *amount)
{
    PyObject *sum = PyNumber_Add(*count, amount);
    if (sum == NULL)
        return -1;
    Py_SETREF(*count, sum);
    return 0;
}

static PyObject *
Account_roll(Account *self, PyObject *day)
{
    if (account_roll(self, day) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Account_spent(Account *self, PyObject *period)
{
    return Py_NewRef(account_spent(self, period));
}

static PyObject *
Account_book(Account *self, PyObject *amount)
{
    if (add_to(&self->today, amount) < 0 || add_to(&self->this_month, amount) < 0 ||
        add_to(&self->total, amount) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* reserve(limit, period, amount, day) -> bool: on `day`, whether `amount` fits in what is left of
 * `limit` for `period` after the spend and the reservations in flight; if it does, it is reserved. */
static PyObject *
Account_reserve(Account *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "reserve(limit, period, amount, day)");
        return NULL;
    }
    PyObject *amount = args[2];
    if (account_roll(self, args[3]) < 0)
        return NULL;
    PyObject *after_spend = PyNumber_Subtract(args[0], account_spent(self, args[1]));
    PyObject *left = after_spend == NULL ? NULL : PyNumber_Subtract(after_spend, self->reserved);
    Py_XDECREF(after_spend);
    if (left == NULL)
        return NULL;
    int refused = PyObject_RichCompareBool(left, money_zero, Py_LE);
    if (refused == 0)
        refused = PyObject_RichCompareBool(amount, left, Py_GT);
    Py_DECREF(left);
    if (refused < 0)
        return NULL;
    if (refused)
        Py_RETURN_FALSE;
    if (add_to(&self->reserved, amount) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

/* settle(reserved, cost, day): a request is over on `day`: its reservation released (never below
 * zero) and its cost booked. */
static PyObject *
Account_settle(Account *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "settle(reserved, cost, day)");
        return NULL;
    }
    if (account_roll(self, args[2]) < 0)
        return NULL;
    PyObject *held = PyNumber_Subtract(self->reserved, args[0]);
    if (held == NULL)
        return NULL;
    int below = PyObject_RichCompareBool(money_zero, held, Py_GT); /* Python's max(held, ZERO) */
    if (below < 0) {
        Py_DECREF(held);
        return NULL;
    }
    if (below)
        Py_SETREF(held, Py_NewRef(money_zero));
    Py_SETREF(self->reserved, held);
    return Account_book(self, args[1]);
}

static PyObject *
Account_get_month(Account *self, void *closure)
{
    (void)closure;
    return Py_BuildValue("(ii)", self->year, self->month);
}

static PyMethodDef Account_methods[] = {
    {"roll", (PyCFunction)Account_roll, METH_O, "roll(day): a new day's count starts at zero, and a new month's"},
    {"spent", (PyCFunction)Account_spent, METH_O, "spent(period) -> the spend of 'daily', 'monthly' or None (total)"},
    {"book", (PyCFunction)Account_book, METH_O, "book(amount): spent today, this month and in total"},
    {"reserve", (PyCFunction)(void (*)(void))Account_reserve, METH_FASTCALL, "reserve(limit, period, amount, day) -> bool"},
    {"settle", (PyCFunction)(void (*)(void))Account_settle, METH_FASTCALL, "settle(reserved, cost, day)"},
    {NULL},
};

static PyMemberDef Account_members[] = {
    {"day", T_OBJECT_EX, offsetof(Account, day), READONLY, NULL},
    {"today", T_OBJECT_EX, offsetof(Account, today), 0, NULL},
    {"this_month", T_OBJECT_EX, offsetof(Account, this_month), 0, NULL},
    {"total", T_OBJECT_EX, offsetof(Account, total), 0, NULL},
    {"reserved", T_OBJECT_EX, offsetof(Account, reserved), 0, NULL},
    {NULL},
};

static PyGetSetDef Account_getset[] = {
    {"month", (getter)Account_get_month, NULL, "(year, month) of the month's count", NULL},
    {NULL},
};

static PyTypeObject AccountType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "relaygate._speedups.Account",
    .tp_basicsize = sizeof(Account),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Account(day): one key's spend in this process (governance/budgets.py's PyAccount)",
    .tp_new = Account_new,
    .tp_dealloc = (destructor)Account_dealloc,
    .tp_methods = Account_methods,
    .tp_members = Account_members,
    .tp_getset = Account_getset,
};

/* Hold and Verdict: shared_budgets.py's PyHold and limits.py's PyVerdict (dataclasses with slots), made
 * per request without a call into Python's __init__. Each is a row of named fields; a call with
 * positional arguments alone (as the request path makes them) fills them directly, anything else
 * goes through the keyword parser. Fields compare equal as the dataclasses' do, and print alike. */
typedef struct {
    PyObject_HEAD
    PyObject *fields[6];
} Fields;

typedef struct {
    const char *name;
    Py_ssize_t count, required;
    char *names[7];
} FieldsSpec;

static PyTypeObject HoldType, VerdictType;
static const FieldsSpec hold_spec = {"Hold", 2, 1, {"amount", "shared", NULL}};
static const FieldsSpec verdict_spec = {"Verdict", 6, 1,
                                        {"allowed", "headers", "retry_after", "reason", "shared", "reserved", NULL}};
static PyObject *zero_seconds, *zero_count;

static const FieldsSpec *
spec_of(PyTypeObject *type)
{
    return PyType_IsSubtype(type, &HoldType) ? &hold_spec : &verdict_spec;
}

static PyObject * /* a new reference: the field's default (Verdict's headers: a list of its own, as default_factory) */
default_of(const FieldsSpec *spec, Py_ssize_t i)
{
    if (spec == &verdict_spec) {
        switch (i) {
        case 1: return PyList_New(0);
        case 2: return Py_NewRef(zero_seconds);
        case 3: return Py_NewRef(s_empty);
        case 5: return Py_NewRef(zero_count);
        }
    }
    return Py_NewRef(Py_None);
}

/* `values[i]` for the first `given` fields (NULL where not given: its default). */
static PyObject *
fields_made(PyTypeObject *type, PyObject *const *values, Py_ssize_t given)
{
    const FieldsSpec *spec = spec_of(type);
    Fields *self = (Fields *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < spec->count; i++) {
        self->fields[i] = i < given && values[i] != NULL ? Py_NewRef(values[i]) : default_of(spec, i);
        if (self->fields[i] == NULL) {
            Py_DECREF(self);
            return NULL;
        }
    }
    return (PyObject *)self;
}

static PyObject *
Fields_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    const FieldsSpec *spec = spec_of(type);
    PyObject *values[6] = {NULL};
    char format[16] = "O|OOOOO";
    format[1 + spec->count] = '\0'; /* "O|" and one "O" per optional field */
    snprintf(format + strlen(format), sizeof(format) - strlen(format), ":%s", spec->name);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, format, (char **)spec->names, &values[0], &values[1], &values[2],
                                     &values[3], &values[4], &values[5]))
        return NULL;
    return fields_made(type, values, spec->count);
}

static PyObject *
Fields_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    const FieldsSpec *spec = spec_of((PyTypeObject *)type);
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && nargs >= spec->required && nargs <= spec->count)
        return fields_made((PyTypeObject *)type, args, nargs);
    PyObject *tuple = PyTuple_New(nargs), *kwargs = NULL;
    if (tuple == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++)
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
    if (kwnames != NULL) {
        kwargs = PyDict_New();
        for (Py_ssize_t i = 0; kwargs != NULL && i < PyTuple_GET_SIZE(kwnames); i++)
            if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
                Py_CLEAR(kwargs);
        if (kwargs == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
    }
    PyObject *made = Fields_new((PyTypeObject *)type, tuple, kwargs);
    Py_DECREF(tuple);
    Py_XDECREF(kwargs);
    return made;
}

static void
Fields_dealloc(Fields *self)
{
    const FieldsSpec *spec = spec_of(Py_TYPE(self));
    for (Py_ssize_t i = 0; i < spec->count; i++)
        Py_XDECREF(self->fields[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Fields_repr(Fields *self)
{
    const FieldsSpec *spec = spec_of(Py_TYPE(self));
    PyObject *out = PyUnicode_FromFormat("%s(", spec->name);
    for (Py_ssize_t i = 0; out != NULL && i < spec->count; i++) {
        PyObject *part = PyUnicode_FromFormat("%s%s=%R", i ? ", " : "", spec->names[i], self->fields[i]);
        PyObject *joined = part == NULL ? NULL : PyUnicode_Concat(out, part);
        Py_XDECREF(part);
        Py_SETREF(out, joined);
    }
    if (out != NULL) {
        PyObject *end = PyUnicode_FromString(")"), *joined = end == NULL ? NULL : PyUnicode_Concat(out, end);
        Py_XDECREF(end);
        Py_SETREF(out, joined);
    }
    return out;
}

static PyObject *
Fields_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || Py_TYPE(b) != Py_TYPE(a))
        Py_RETURN_NOTIMPLEMENTED;
    const FieldsSpec *spec = spec_of(Py_TYPE(a));
    int same = 1;
    for (Py_ssize_t i = 0; same > 0 && i < spec->count; i++)
        same = PyObject_RichCompareBool(((Fields *)a)->fields[i], ((Fields *)b)->fields[i], Py_EQ);
    if (same < 0)
        return NULL;
    return PyBool_FromLong(op == Py_EQ ? same : !same);
}

#define FIELD(name, i) {name, T_OBJECT_EX, offsetof(Fields, fields) + (i) * sizeof(PyObject *), 0, NULL}
static PyMemberDef Hold_members[] = {FIELD("amount", 0), FIELD("shared", 1), {NULL}};
static PyMemberDef Verdict_members[] = {FIELD("allowed", 0), FIELD("headers", 1), FIELD("retry_after", 2),
                                        FIELD("reason", 3), FIELD("shared", 4), FIELD("reserved", 5), {NULL}};

static PyTypeObject HoldType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "relaygate._speedups.Hold",
    .tp_basicsize = offsetof(Fields, fields) + 2 * sizeof(PyObject *),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Hold(amount, shared=None): a request's reservation (governance/shared_budgets.py's PyHold)",
    .tp_new = Fields_new,
    .tp_vectorcall = Fields_vectorcall,
    .tp_dealloc = (destructor)Fields_dealloc,
    .tp_repr = (reprfunc)Fields_repr,
    .tp_richcompare = Fields_richcompare,
    .tp_members = Hold_members,
};

static PyTypeObject VerdictType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "relaygate._speedups.Verdict",
    .tp_basicsize = sizeof(Fields),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Verdict(allowed, headers=[], retry_after=0.0, reason='', shared=None, reserved=0): an admission "
              "(governance/limits.py's PyVerdict)",
    .tp_new = Fields_new,
    .tp_vectorcall = Fields_vectorcall,
    .tp_dealloc = (destructor)Fields_dealloc,
    .tp_repr = (reprfunc)Fields_repr,
    .tp_richcompare = Fields_richcompare,
    .tp_members = Verdict_members,
};

/* utc_today(): the UTC date now, worked out again only when the clock leaves the day it was worked
 * out for (in either direction); utc_today_at(seconds) the same of a given Unix time. */
#define DAY_SECONDS 86400.0
static double day_start = 0.0, day_end = 0.0;
static PyObject *day_now;

static PyObject *
today_at(double now)
{
    if (day_now != NULL && day_start <= now && now < day_end)
        return Py_NewRef(day_now);
    double into = fmod(now, DAY_SECONDS); /* Python's `now % DAY`: the sign of the divisor */
    if (into < 0)
        into += DAY_SECONDS;
    double start = now - into;
    if (!(start > -1e14 && start < 1e14)) { /* NaN too: beyond any date's range */
        PyErr_SetString(PyExc_OverflowError, "utc_today: the time is out of range");
        return NULL;
    }
    time_t whole = (time_t)start;
    struct tm parts;
    if (gmtime_r(&whole, &parts) == NULL) {
        PyErr_SetString(PyExc_OverflowError, "utc_today: the time is out of range");
        return NULL;
    }
    PyObject *day = PyDate_FromDate(parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday);
    if (day == NULL)
        return NULL;
    Py_XSETREF(day_now, day);
    day_start = start;
    day_end = start + DAY_SECONDS;
    return Py_NewRef(day);
}

static PyObject *
utc_today(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return today_at((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
}

static PyObject *
utc_today_at(PyObject *module, PyObject *seconds)
{
    (void)module;
    double now = PyFloat_AsDouble(seconds);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    return today_at(now);
}


/* SqliteWriter: the usage writer's inserts on SQLite (metering/sink.py's SqliteSink), its rows bound
 * straight from their tuples where Python's sqlite3 module binds each value through its adapters and
 * copies each text, and a chunk's 1,216 values are first laid out in one tuple. It calls the SQLite
 * library Python's own sqlite3 module is linked with (found through that module's file, so no second
 * copy of SQLite is ever in the process), on a connection of its own, with the statements prepared
 * once. Where that library cannot be found (a sqlite3 module with SQLite built in), the sink keeps to
 * Python's sqlite3. The API's types and constants are SQLite's documented ones. */
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
#define SQ_OK 0
#define SQ_CONSTRAINT 19
#define SQ_DONE 101
#define SQ_OPEN_READWRITE 0x02
#define SQ_OPEN_CREATE 0x04
#define SQ_OPEN_NOMUTEX 0x8000
#define SQ_STATIC ((void (*)(void *))0)

static struct {
    int (*open_v2)(const char *, sqlite3 **, int, const char *);
    int (*close_v2)(sqlite3 *);
    int (*exec)(sqlite3 *, const char *, void *, void *, char **);
    int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    int (*bind_int64)(sqlite3_stmt *, int, long long);
    int (*bind_double)(sqlite3_stmt *, int, double);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
    int (*bind_null)(sqlite3_stmt *, int);
    int (*step)(sqlite3_stmt *);
    int (*reset)(sqlite3_stmt *);
    int (*finalize)(sqlite3_stmt *);
    int (*extended_errcode)(sqlite3 *);
    const char *(*errmsg)(sqlite3 *);
    int (*bind_parameter_count)(sqlite3_stmt *);
} sq;
static int sq_loaded; /* 1: found, -1: not there */

static int
sq_load(const char *module_file)
{
    if (sq_loaded)
        return sq_loaded;
    sq_loaded = -1;
    void *library = dlopen(module_file, RTLD_NOW | RTLD_NOLOAD); /* the sqlite3 module, already loaded */
    if (library == NULL)
        return -1;
    struct { void **slot; const char *name; } symbols[] = {
        {(void **)&sq.open_v2, "sqlite3_open_v2"}, {(void **)&sq.close_v2, "sqlite3_close_v2"},
        {(void **)&sq.exec, "sqlite3_exec"}, {(void **)&sq.prepare_v2, "sqlite3_prepare_v2"},
        {(void **)&sq.bind_int64, "sqlite3_bind_int64"}, {(void **)&sq.bind_double, "sqlite3_bind_double"},
        {(void **)&sq.bind_text, "sqlite3_bind_text"}, {(void **)&sq.bind_null, "sqlite3_bind_null"},
        {(void **)&sq.step, "sqlite3_step"}, {(void **)&sq.reset, "sqlite3_reset"},
        {(void **)&sq.finalize, "sqlite3_finalize"}, {(void **)&sq.extended_errcode, "sqlite3_extended_errcode"},
        {(void **)&sq.errmsg, "sqlite3_errmsg"}, {(void **)&sq.bind_parameter_count, "sqlite3_bind_parameter_count"},
    };
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++)
        if ((*symbols[i].slot = dlsym(library, symbols[i].name)) == NULL)
            return -1; /* the handle stays open: the module holds the library loaded anyway */
    sq_loaded = 1;
    return 1;
}

enum { W_CHUNK, W_ONE, W_ROLLUP, W_STATEMENTS };

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
    sqlite3_stmt *statements[W_STATEMENTS];
    int chunk_rows, columns, rollup_columns; /* a row's values: every parameter is bound before each step */
} SqliteWriter;

/* sqlite3.IntegrityError for a constraint (`extended`: SQLite's extended code), else
 * sqlite3.OperationalError, with SQLite's message. */
static void
sq_raise_as(int code, int extended, const char *message)
{
    PyObject *module = PyImport_ImportModule("sqlite3");
    PyObject *type = module == NULL ? NULL
                     : PyObject_GetAttrString(module, (extended & 0xff) == SQ_CONSTRAINT ? "IntegrityError"
                                                                                        : "OperationalError");
    Py_XDECREF(module);
    if (type != NULL)
        PyErr_Format(type, "%s (SQLite code %d)", message, code);
    Py_XDECREF(type);
}

static void
sq_raise(sqlite3 *db, int code)
{
    if (db == NULL)
        sq_raise_as(code, code, "cannot open");
    else
        sq_raise_as(code, sq.extended_errcode(db), sq.errmsg(db));
}

static int
sq_exec(SqliteWriter *self, const char *sql)
{
    int code;
    Py_BEGIN_ALLOW_THREADS
    code = sq.exec(self->db, sql, NULL, NULL, NULL);
    Py_END_ALLOW_THREADS
    if (code != SQ_OK) {
        sq_raise(self->db, code);
        return -1;
    }
    return 0;
}

static void
SqliteWriter_close_db(SqliteWriter *self)
{
    for (int i = 0; i < W_STATEMENTS; i++)
        if (self->statements[i] != NULL) {
            sq.finalize(self->statements[i]);
            self->statements[i] = NULL;
        }
    if (self->db != NULL) {
        sq.close_v2(self->db);
        self->db = NULL;
    }
}

/* SqliteWriter(sqlite3_module_file, database, setup, chunk_sql, chunk_rows, one_sql, rollup_sql) */
static PyObject *
SqliteWriter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    const char *module_file, *database, *setup, *sql[W_STATEMENTS];
    int chunk_rows;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "SqliteWriter() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "ssssiss:SqliteWriter", &module_file, &database, &setup, &sql[W_CHUNK], &chunk_rows,
                          &sql[W_ONE], &sql[W_ROLLUP]))
        return NULL;
    if (chunk_rows < 1) {
        PyErr_SetString(PyExc_ValueError, "SqliteWriter: chunk_rows must be positive");
        return NULL;
    }
    if (sq_load(module_file) < 0) {
        PyErr_SetString(PyExc_ImportError, "SqliteWriter: the SQLite library of the sqlite3 module is not found");
        return NULL;
    }
    SqliteWriter *self = (SqliteWriter *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->chunk_rows = chunk_rows;
    int code;
    /* No mutex of the connection's own around each call: one thread at a time writes through it (the
     * sink's lock), and each of a row's ~20 calls (binds, step, reset) took and gave one back, ~1.6k
     * instructions a record. */
    Py_BEGIN_ALLOW_THREADS
    code = sq.open_v2(database, &self->db, SQ_OPEN_READWRITE | SQ_OPEN_CREATE | SQ_OPEN_NOMUTEX, NULL);
    Py_END_ALLOW_THREADS
    if (code != SQ_OK) {
        sq_raise(self->db, code);
        Py_DECREF(self);
        return NULL;
    }
    if (sq_exec(self, setup) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    for (int i = 0; i < W_STATEMENTS; i++)
        if ((code = sq.prepare_v2(self->db, sql[i], -1, &self->statements[i], NULL)) != SQ_OK ||
            self->statements[i] == NULL) {
            if (code != SQ_OK)
                sq_raise(self->db, code);
            else
                PyErr_SetString(PyExc_ValueError, "SqliteWriter: a statement's SQL is empty");
            Py_DECREF(self);
            return NULL;
        }
    self->columns = sq.bind_parameter_count(self->statements[W_ONE]);
    self->rollup_columns = sq.bind_parameter_count(self->statements[W_ROLLUP]);
    if (sq.bind_parameter_count(self->statements[W_CHUNK]) != chunk_rows * self->columns) {
        PyErr_SetString(PyExc_ValueError, "SqliteWriter: the chunk statement must take chunk_rows rows");
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
SqliteWriter_dealloc(SqliteWriter *self)
{
    SqliteWriter_close_db(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Binds `row`'s values from parameter `first` on: int, float, str (not copied: the row outlives the
 * statement's step), None. */
static int
bind_row(SqliteWriter *self, sqlite3_stmt *statement, PyObject *row, int first, Py_ssize_t columns)
{
    if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != columns) {
        PyErr_SetString(PyExc_TypeError, "SqliteWriter: each row must be a tuple of the statement's columns");
        return -1;
    }
    for (Py_ssize_t i = 0; i < columns; i++) {
        PyObject *value = PyTuple_GET_ITEM(row, i);
        int at = first + (int)i, code;
        if (value == Py_None) {
            code = sq.bind_null(statement, at);
        } else if (PyLong_Check(value)) {
            long long n = PyLong_AsLongLong(value);
            if (n == -1 && PyErr_Occurred())
                return -1;
            code = sq.bind_int64(statement, at, n);
        } else if (PyUnicode_Check(value)) {
            Py_ssize_t n;
            const char *text = PyUnicode_AsUTF8AndSize(value, &n);
            if (text == NULL)
                return -1;
            if (n > INT_MAX) {
                PyErr_SetString(PyExc_OverflowError, "SqliteWriter: a text is too long");
                return -1;
            }
            code = sq.bind_text(statement, at, text, (int)n, SQ_STATIC);
        } else if (PyFloat_Check(value)) {
            code = sq.bind_double(statement, at, PyFloat_AS_DOUBLE(value));
        } else {
            PyErr_Format(PyExc_TypeError, "SqliteWriter: a %.100s cannot be stored", Py_TYPE(value)->tp_name);
            return -1;
        }
        if (code != SQ_OK) {
            sq_raise(self->db, code);
            return -1;
        }
    }
    return 0;
}

static int
step_done(SqliteWriter *self, sqlite3_stmt *statement)
{
    int code;
    Py_BEGIN_ALLOW_THREADS
    code = sq.step(statement);
    sq.reset(statement);
    Py_END_ALLOW_THREADS
    if (code != SQ_DONE) {
        sq_raise(self->db, code);
        return -1;
    }
    return 0;
}

/* write(rows, rollups): one transaction: the rows inserted (whole chunks by the chunk statement, the
 * rest one by one), the rollup's statement run for each of `rollups`. Any failure rolls it back. */
static PyObject *
SqliteWriter_write(SqliteWriter *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "write(rows: list, rollups: list)");
        return NULL;
    }
    if (self->db == NULL) {
        PyErr_SetString(PyExc_ValueError, "SqliteWriter: closed");
        return NULL;
    }
    PyObject *rows = args[0], *rollups = args[1];
    Py_ssize_t count = PyList_GET_SIZE(rows), done = 0;
    if (sq_exec(self, "BEGIN IMMEDIATE") < 0)
        return NULL;
    /* the lists' items are held here: the texts bound without a copy stay alive until each step */
    PyObject *held_rows = PyList_GetSlice(rows, 0, count), *held_rollups = PyList_GetSlice(rollups, 0, PY_SSIZE_T_MAX);
    int failed = held_rows == NULL || held_rollups == NULL;
    Py_ssize_t columns = self->columns;
    sqlite3_stmt *chunk = self->statements[W_CHUNK], *one = self->statements[W_ONE];
    for (; !failed && count - done >= self->chunk_rows; done += self->chunk_rows)
        for (int r = 0; !failed && r <= self->chunk_rows; r++)
            failed = r < self->chunk_rows ? bind_row(self, chunk, PyList_GET_ITEM(held_rows, done + r),
                                                     1 + r * (int)columns, columns)
                                          : step_done(self, chunk);
    for (; !failed && done < count; done++)
        failed = bind_row(self, one, PyList_GET_ITEM(held_rows, done), 1, columns) || step_done(self, one);
    for (Py_ssize_t i = 0; !failed && i < PyList_GET_SIZE(held_rollups); i++) {
        PyObject *rollup = PyList_GET_ITEM(held_rollups, i);
        failed = bind_row(self, self->statements[W_ROLLUP], rollup, 1, self->rollup_columns) ||
                 step_done(self, self->statements[W_ROLLUP]);
    }
    Py_XDECREF(held_rows);
    Py_XDECREF(held_rollups);
    if (!failed && sq_exec(self, "COMMIT") == 0)
        Py_RETURN_NONE;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    for (int i = 0; i < W_STATEMENTS; i++)
        sq.reset(self->statements[i]);
    sq.exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    PyErr_Restore(type, value, traceback);
    return NULL;
}

/* write_lines(data): the journal's own lines (metering/journal.py: `journal_line`'s bytes, each ended
 * by a newline) stored as `write` stores the rows and rollup that metering/sink.py makes of them
 * (`_Dialect.row`, `rollup_rows`): the same values bound, with no Python object made per record and
 * without the GIL from the first line to the commit. A line whose values are not plainly those of a
 * line this module writes (a string with an escape, a time of another zone, a cost not exact at the
 * money scale, a number beyond 64 bits, a key, model or count of another type, another shape) answers
 * None before anything is written: the Python code takes the batch. Else the number of rows stored. */
enum { LV_NULL, LV_INT, LV_TEXT };
enum { LINE_MONEY_SCALE = 10, ROLLUP_SUMS = 6 }; /* metering/money.py's MONEY_SCALE; rows, 4 counts, cost */

typedef struct {
    const char *text[R_COLUMNS];
    long long number[R_COLUMNS];
    int length[R_COLUMNS];
    unsigned char kind[R_COLUMNS];
    char moment[27]; /* the time as SQLite's DATETIME stores it: `2026-11-23 21:51:35.485490` */
} LineRow;

typedef struct {
    const LineRow *first; /* the day, key and model are this row's */
    long long sums[ROLLUP_SUMS];
} LineGroup;

typedef struct {
    int code, extended; /* SQLite's, for the exception raised once the GIL is back */
    char message[256];
} SqFailure;

/* Past a JSON string's closing quote (`p` at its opening one), or NULL; `escaped` set if it holds a `\`. */
static const char *
line_skip_string(const char *p, const char *end, int *escaped)
{
    for (p++; p < end;) {
        p += plain_prefix(p, end - p);
        if (p >= end)
            return NULL;
        if (*p == '"')
            return p + 1;
        if (*p != '\\')
            return NULL; /* a control character: not JSON */
        *escaped = 1;
        p += 2;
    }
    return NULL;
}

/* A cost's text as `str(Decimal)` writes one (plain digits, `0.0000405`, or with an exponent, `5.75E-8`,
 * `0E-10`) as whole 1e-10 USD, where that is exact; 1 for anything else (the Python takes it). */
static int
line_money(const char *s, int n, long long *units)
{
    long long value = 0;
    int digits = 0, fraction = -1, zeros = 0, i = 0, exponent = 0; /* zeros: the fraction's, not yet counted */
    for (; i < n && s[i] != 'E' && s[i] != 'e'; i++) {
        if (s[i] == '.' && fraction < 0) {
            fraction = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return 1;
        digits++;
        if (fraction >= 0 && s[i] == '0') { /* a fraction's trailing zeros change nothing: counted if a digit follows */
            zeros++;
            continue;
        }
        for (; zeros; zeros--, fraction++)
            if (__builtin_mul_overflow(value, 10, &value))
                return 1;
        if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, s[i] - '0', &value))
            return 1;
        if (fraction >= 0)
            fraction++;
    }
    if (!digits)
        return 1;
    if (i < n) { /* the exponent: a sign, then one to three digits */
        int negative = ++i < n && s[i] == '-', first;
        i += i < n && (s[i] == '-' || s[i] == '+');
        for (first = i; i < n && s[i] >= '0' && s[i] <= '9' && i - first < 3; i++)
            exponent = exponent * 10 + (s[i] - '0');
        if (i == first || i < n)
            return 1;
        exponent = negative ? -exponent : exponent;
    }
    int scale = LINE_MONEY_SCALE - (fraction < 0 ? 0 : fraction) + exponent; /* the powers of ten to add */
    for (; scale < 0 && value % 10 == 0; scale++) /* zeros past the scale (`0E-14`, `1000E-13`): still exact */
        value /= 10;
    if (scale < 0)
        return 1; /* finer than the money scale: rounded, the Python's way */
    for (; scale > 0; scale--)
        if (__builtin_mul_overflow(value, 10, &value))
            return 1;
    *units = value;
    return 0;
}

/* `YYYY-MM-DDTHH:MM:SS+00:00`, digits and separators in their places. */
static int
line_whole_second(const char *s)
{
    static const char shape[] = "0000-00-00T00:00:00";
    for (int i = 0; i < 19; i++)
        if (shape[i] == '0' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
            return 0;
    return !memcmp(s + 19, "+00:00", 6);
}

/* One line, `p` at its `[` and `end` at its newline: 0, or 1 for a line the Python takes. */
static int
line_parse(const char *p, const char *end, LineRow *row)
{
    if (p >= end || *p++ != '[')
        return 1;
    for (int i = 0; i < R_COLUMNS; i++) {
        if (i && (p >= end || *p++ != ','))
            return 1;
        if (p >= end)
            return 1;
        const char *start = p;
        if (i == R_ATTEMPTS) { /* an array, stored as its text: orjson writes back what it read of it */
            int depth = 0, escaped = 0;
            do {
                if (p >= end)
                    return 1;
                char c = *p;
                if (c == '"') {
                    if ((p = line_skip_string(p, end, &escaped)) == NULL)
                        return 1;
                    continue;
                }
                if (c == '[' || c == '{')
                    depth++;
                else if (c == ']' || c == '}')
                    depth--;
                p++;
            } while (depth > 0);
            if (*start != '[')
                return 1;
            row->kind[i] = LV_TEXT;
            row->text[i] = start;
            row->length[i] = (int)(p - start);
        } else if (*p == '"') {
            int escaped = 0;
            if ((p = line_skip_string(p, end, &escaped)) == NULL || escaped)
                return 1;
            const char *s = start + 1;
            int n = (int)(p - 1 - s);
            if (i == R_COST) {
                if (line_money(s, n, &row->number[i]))
                    return 1;
                row->kind[i] = LV_INT;
            } else if (i == R_CREATED) { /* `_sqlite_time`: UTC, with microseconds or on a whole second */
                if (n == 32 && !memcmp(s + 26, "+00:00", 6)) { /* its quick way: the text cut */
                    memcpy(row->moment + 11, s + 11, 15);
                } else if (n == 25 && line_whole_second(s)) { /* orjson's form of a time without microseconds */
                    memcpy(row->moment + 11, s + 11, 8);
                    memcpy(row->moment + 19, ".000000", 7);
                } else {
                    return 1; /* another zone, another form: the Python's */
                }
                memcpy(row->moment, s, 10);
                row->moment[10] = ' ';
                row->moment[26] = '\0';
                row->kind[i] = LV_TEXT;
                row->text[i] = row->moment;
                row->length[i] = 26;
            } else {
                row->kind[i] = LV_TEXT;
                row->text[i] = s;
                row->length[i] = n;
            }
        } else if (i == R_COST || i == R_CREATED) {
            return 1;
        } else if (end - p >= 4 && !memcmp(p, "null", 4)) {
            row->kind[i] = LV_NULL;
            p += 4;
        } else if (end - p >= 4 && !memcmp(p, "true", 4)) {
            row->kind[i] = LV_INT;
            row->number[i] = 1;
            p += 4;
        } else if (end - p >= 5 && !memcmp(p, "false", 5)) {
            row->kind[i] = LV_INT;
            row->number[i] = 0;
            p += 5;
        } else { /* an integer as JSON writes one: no leading zero, no fraction, no exponent */
            int negative = *p == '-';
            p += negative;
            if (p >= end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9'))
                return 1;
            long long value = 0;
            for (; p < end && *p >= '0' && *p <= '9'; p++)
                if (__builtin_mul_overflow(value, 10, &value) ||
                    (negative ? __builtin_sub_overflow(value, *p - '0', &value)
                              : __builtin_add_overflow(value, *p - '0', &value)))
                    return 1;
            row->kind[i] = LV_INT;
            row->number[i] = value;
        }
    }
    if (p + 1 != end || *p != ']' || row->kind[R_KEY] != LV_TEXT || row->kind[R_MODEL] != LV_TEXT)
        return 1; /* the rollup's group is texts */
    for (int c = R_PROMPT; c <= R_CACHED; c++)
        if (row->kind[c] != LV_INT)
            return 1; /* and its sums numbers */
    return 0;
}

static uint64_t
line_group_hash(const LineRow *row)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 10; i++)
        h = (h ^ (unsigned char)row->moment[i]) * 1099511628211ULL;
    for (int c = R_KEY; c <= R_MODEL; c++) {
        for (int i = 0; i < row->length[c]; i++)
            h = (h ^ (unsigned char)row->text[c][i]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* no UTF-8 text holds 0xff: "ab"+"c" is not "a"+"bc" */
    }
    return h;
}

static int
line_same_group(const LineRow *a, const LineRow *b)
{
    return !memcmp(a->moment, b->moment, 10) && a->length[R_KEY] == b->length[R_KEY] &&
           a->length[R_MODEL] == b->length[R_MODEL] && !memcmp(a->text[R_KEY], b->text[R_KEY], a->length[R_KEY]) &&
           !memcmp(a->text[R_MODEL], b->text[R_MODEL], a->length[R_MODEL]);
}

static int
line_bind(sqlite3_stmt *statement, const LineRow *row, int first)
{
    int code = SQ_OK;
    for (int i = 0; code == SQ_OK && i < R_COLUMNS; i++)
        code = row->kind[i] == LV_NULL ? sq.bind_null(statement, first + i)
               : row->kind[i] == LV_INT ? sq.bind_int64(statement, first + i, row->number[i])
                                        : sq.bind_text(statement, first + i, row->text[i], row->length[i], SQ_STATIC);
    return code;
}

/* The day, key and model of `group`, then its sums, into the rollup statement. */
static int
line_bind_group(sqlite3_stmt *statement, const LineGroup *group)
{
    const LineRow *row = group->first;
    int code = sq.bind_text(statement, 1, row->moment, 10, SQ_STATIC);
    if (code == SQ_OK)
        code = sq.bind_text(statement, 2, row->text[R_KEY], row->length[R_KEY], SQ_STATIC);
    if (code == SQ_OK)
        code = sq.bind_text(statement, 3, row->text[R_MODEL], row->length[R_MODEL], SQ_STATIC);
    for (int i = 0; code == SQ_OK && i < ROLLUP_SUMS; i++)
        code = sq.bind_int64(statement, 4 + i, group->sums[i]);
    return code;
}

static int
line_step(sqlite3_stmt *statement)
{
    int code = sq.step(statement);
    sq.reset(statement);
    return code == SQ_DONE ? SQ_OK : code;
}

/* The rows' groups (day, key, model) and sums into `groups`, one per group in the order first met;
 * their number, or -1 where a sum passes 64 bits. */
static Py_ssize_t
line_groups(const LineRow *rows, Py_ssize_t count, LineGroup *groups, Py_ssize_t *slots, Py_ssize_t mask)
{
    Py_ssize_t made = 0;
    for (Py_ssize_t r = 0; r < count; r++) {
        const LineRow *row = &rows[r];
        Py_ssize_t at = (Py_ssize_t)(line_group_hash(row) & (uint64_t)mask);
        while (slots[at] >= 0 && !line_same_group(groups[slots[at]].first, row))
            at = (at + 1) & mask;
        LineGroup *group;
        if (slots[at] < 0) {
            slots[at] = made;
            group = &groups[made++];
            group->first = row;
            memset(group->sums, 0, sizeof(group->sums));
        } else {
            group = &groups[slots[at]];
        }
        group->sums[0]++;
        for (int c = R_PROMPT; c <= R_COST; c++) /* the four counts, then the cost */
            if (__builtin_add_overflow(group->sums[c - R_PROMPT + 1], row->number[c], &group->sums[c - R_PROMPT + 1]))
                return -1;
    }
    return made;
}

/* Parses and stores, without the GIL: 1 (the Python takes the batch), 0 (stored), -1 (SQLite failed:
 * `failure`), -2 (no memory). */
static int
line_store(SqliteWriter *self, const char *data, Py_ssize_t size, Py_ssize_t *stored, SqFailure *failure)
{
    Py_ssize_t count = 0;
    for (const char *p = data; (p = memchr(p, '\n', data + size - p)) != NULL; p++)
        count++;
    if (size && data[size - 1] != '\n')
        return 1;
    *stored = count;
    if (!count)
        return 0;
    Py_ssize_t capacity = 2;
    while (capacity < count * 2)
        capacity *= 2;
    LineRow *rows = PyMem_RawMalloc(sizeof(LineRow) * count);
    LineGroup *groups = PyMem_RawMalloc(sizeof(LineGroup) * count);
    Py_ssize_t *slots = PyMem_RawMalloc(sizeof(Py_ssize_t) * capacity);
    int result = 0;
    if (rows == NULL || groups == NULL || slots == NULL) {
        result = -2;
        goto done;
    }
    const char *p = data;
    for (Py_ssize_t r = 0; r < count; r++) {
        const char *end = memchr(p, '\n', data + size - p);
        if (line_parse(p, end, &rows[r])) {
            result = 1;
            goto done;
        }
        p = end + 1;
    }
    memset(slots, 0xff, sizeof(Py_ssize_t) * capacity); /* -1: free */
    Py_ssize_t made = line_groups(rows, count, groups, slots, capacity - 1);
    if (made < 0) {
        result = 1;
        goto done;
    }
    sqlite3_stmt *chunk = self->statements[W_CHUNK], *one = self->statements[W_ONE];
    sqlite3_stmt *rollup = self->statements[W_ROLLUP];
    int code = sq.exec(self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL), began = code == SQ_OK;
    Py_ssize_t done_rows = 0;
    for (; code == SQ_OK && count - done_rows >= self->chunk_rows; done_rows += self->chunk_rows) {
        for (int r = 0; code == SQ_OK && r < self->chunk_rows; r++)
            code = line_bind(chunk, &rows[done_rows + r], 1 + r * R_COLUMNS);
        if (code == SQ_OK)
            code = line_step(chunk);
    }
    for (; code == SQ_OK && done_rows < count; done_rows++)
        if ((code = line_bind(one, &rows[done_rows], 1)) == SQ_OK)
            code = line_step(one);
    for (Py_ssize_t g = 0; code == SQ_OK && g < made; g++)
        if ((code = line_bind_group(rollup, &groups[g])) == SQ_OK)
            code = line_step(rollup);
    if (code == SQ_OK)
        code = sq.exec(self->db, "COMMIT", NULL, NULL, NULL);
    if (code != SQ_OK) {
        failure->code = code;
        failure->extended = sq.extended_errcode(self->db);
        snprintf(failure->message, sizeof(failure->message), "%s", sq.errmsg(self->db));
        for (int i = 0; began && i < W_STATEMENTS; i++)
            sq.reset(self->statements[i]);
        if (began)
            sq.exec(self->db, "ROLLBACK", NULL, NULL, NULL);
        result = -1;
    }
done:
    PyMem_RawFree(rows);
    PyMem_RawFree(groups);
    PyMem_RawFree(slots);
    return result;
}

/* copy_text(lines): the journal's own lines (as `SqliteWriter.write_lines` takes them) as rows of
 * PostgreSQL's COPY text format, in the order of their columns: what metering/sink.py's PostgreSQL
 * path stores of them (`_Dialect.row`: the cost exact at the money scale, the time in UTC, the flags,
 * the attempts as their JSON text), with no Python object made per record; None for lines not plainly
 * of this module's making (as `write_lines`): the Python takes them. */
static int
copy_put_number(Line *out, long long n)
{
    if (line_room(out, 24) < 0)
        return -1;
    out->length += put_decimal(out->data + out->length, n);
    return 0;
}

static int
copy_row(Line *out, const LineRow *row)
{
    for (int i = 0; i < R_COLUMNS; i++) {
        if (i && line_put(out, "\t", 1) < 0)
            return -1;
        if (row->kind[i] == LV_NULL) {
            if (line_put(out, "\\N", 2) < 0)
                return -1;
        } else if (i == R_COST) { /* whole 1e-10 USD as the NUMERIC's text */
            char fraction[LINE_MONEY_SCALE + 1];
            long long units = row->number[i], whole = units / 10000000000LL, rest = units % 10000000000LL;
            for (int d = LINE_MONEY_SCALE - 1; d >= 0; d--, rest /= 10)
                fraction[d] = (char)('0' + rest % 10);
            if (copy_put_number(out, whole) < 0 || line_put(out, ".", 1) < 0 ||
                line_put(out, fraction, LINE_MONEY_SCALE) < 0)
                return -1;
        } else if (i == R_CREATED) {
            if (line_put(out, row->moment, 26) < 0 || line_put(out, "+00", 3) < 0)
                return -1;
        } else if (row->kind[i] == LV_INT) {
            if (copy_put_number(out, row->number[i]) < 0)
                return -1;
        } else if (i == R_ATTEMPTS) { /* JSON's escapes keep their backslash: COPY's doubled */
            const char *p = row->text[i], *end = p + row->length[i];
            for (const char *slash; (slash = memchr(p, '\\', end - p)) != NULL; p = slash + 1)
                if (line_put(out, p, slash - p + 1) < 0 || line_put(out, "\\", 1) < 0)
                    return -1;
            if (line_put(out, p, end - p) < 0)
                return -1;
        } else if (line_put(out, row->text[i], row->length[i]) < 0) { /* no escape in it: none in COPY */
            return -1;
        }
    }
    return line_put(out, "\n", 1);
}

static PyObject *
copy_text(PyObject *module, PyObject *lines)
{
    (void)module;
    if (!PyBytes_CheckExact(lines)) {
        PyErr_SetString(PyExc_TypeError, "copy_text(lines: bytes)");
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(lines), *end = data + PyBytes_GET_SIZE(lines);
    if (data < end && end[-1] != '\n')
        Py_RETURN_NONE;
    Line out = {.data = out.small, .length = 0, .room = sizeof(out.small)};
    LineRow row;
    PyObject *result = NULL;
    for (const char *p = data; p < end;) {
        const char *newline = memchr(p, '\n', end - p);
        if (line_parse(p, newline, &row)) { /* what write_lines leaves to the Python, this leaves too */
            result = Py_NewRef(Py_None);
            break;
        }
        if (copy_row(&out, &row) < 0)
            goto done;
        p = newline + 1;
    }
    if (result == NULL)
        result = PyBytes_FromStringAndSize(out.data, out.length);
done:
    if (out.data != out.small)
        PyMem_Free(out.data);
    return result;
}

static PyObject *
SqliteWriter_write_lines(SqliteWriter *self, PyObject *data)
{
    if (!PyBytes_CheckExact(data)) {
        PyErr_SetString(PyExc_TypeError, "write_lines(data: bytes)");
        return NULL;
    }
    if (self->db == NULL) {
        PyErr_SetString(PyExc_ValueError, "SqliteWriter: closed");
        return NULL;
    }
    if (self->columns != R_COLUMNS || self->rollup_columns != 3 + ROLLUP_SUMS) {
        PyErr_SetString(PyExc_ValueError, "SqliteWriter: the statements do not take a journal line's columns");
        return NULL;
    }
    Py_ssize_t stored = 0;
    SqFailure failure = {0, 0, ""};
    int result;
    Py_BEGIN_ALLOW_THREADS /* `data` is the caller's, and bytes do not change */
    result = line_store(self, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &stored, &failure);
    Py_END_ALLOW_THREADS
    switch (result) {
    case 0:
        return PyLong_FromSsize_t(stored);
    case 1:
        Py_RETURN_NONE;
    case -2:
        return PyErr_NoMemory();
    default:
        sq_raise_as(failure.code, failure.extended, failure.message);
        return NULL;
    }
}

static PyObject *
SqliteWriter_close(SqliteWriter *self, PyObject *unused)
{
    (void)unused;
    SqliteWriter_close_db(self);
    Py_RETURN_NONE;
}

/* rollup_rows(shape, rows): metering/sink.py's `rollup_rows` of SQLite rows, without a Python
 * frame per row: per (day, key, model), the day being the first `day_length` characters of the row's
 * time, the number of rows and the sums of its counted columns and of its cost, as rows (day, key,
 * model, rows, sums..., cost) sorted by day, key and model. `shape`: (day_length, created, key, model,
 * first_count, counts, cost), the positions in a row. A sum past 64 bits is an OverflowError (SQLite
 * stores no more: Python's rows would fail at their binding). */
enum { ROLLUP_MAX_COUNTS = 8 };
typedef struct {
    long long v[ROLLUP_MAX_COUNTS + 2]; /* rows, the counts, the cost */
} RollupSums;

static int
rollup_add(long long *sum, PyObject *value)
{
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "rollup_rows: a count or cost is a %.100s, not an int", Py_TYPE(value)->tp_name);
        return -1;
    }
    long long n = PyLong_AsLongLong(value);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (__builtin_add_overflow(*sum, n, sum)) {
        PyErr_SetString(PyExc_OverflowError, "rollup_rows: a sum does not fit in 64 bits");
        return -1;
    }
    return 0;
}

static PyObject *
rollup_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Py_ssize_t day_length, created, key, model, first_count, counts, cost;
    if (nargs != 2 || !PyTuple_CheckExact(args[0]) || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "rollup_rows(shape: tuple, rows: list)");
        return NULL;
    }
    if (!PyArg_ParseTuple(args[0], "nnnnnnn:rollup_rows", &day_length, &created, &key, &model, &first_count, &counts,
                          &cost))
        return NULL;
    Py_ssize_t last = Py_MAX(Py_MAX(Py_MAX(created, key), Py_MAX(model, cost)), first_count + counts - 1);
    if (day_length < 0 || counts < 0 || counts > ROLLUP_MAX_COUNTS || created < 0 || key < 0 || model < 0 ||
        first_count < 0 || cost < 0) {
        PyErr_SetString(PyExc_ValueError, "rollup_rows: a position or length out of range");
        return NULL;
    }
    PyObject *rows = args[1], *groups = PyDict_New(), *out = NULL;
    RollupSums *sums = NULL;
    Py_ssize_t found = 0, room = 0;
    if (groups == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) <= last) {
            PyErr_SetString(PyExc_TypeError, "rollup_rows: each row must be a tuple holding the shape's positions");
            goto done;
        }
        PyObject *moment = PyTuple_GET_ITEM(row, created);
        if (!PyUnicode_Check(moment)) {
            PyErr_SetString(PyExc_TypeError, "rollup_rows: a row's time must be a str");
            goto done;
        }
        PyObject *day = PyUnicode_Substring(moment, 0, day_length);
        PyObject *group = day == NULL ? NULL : PyTuple_Pack(3, day, PyTuple_GET_ITEM(row, key), PyTuple_GET_ITEM(row, model));
        Py_XDECREF(day);
        if (group == NULL)
            goto done;
        PyObject *at = PyDict_GetItemWithError(groups, group);
        Py_ssize_t index;
        if (at != NULL) {
            index = PyLong_AsSsize_t(at);
        } else if (PyErr_Occurred()) { /* an unhashable key or model */
            Py_DECREF(group);
            goto done;
        } else {
            if (found == room) {
                room = room ? room * 2 : 4;
                RollupSums *more = PyMem_Realloc(sums, room * sizeof(RollupSums));
                if (more == NULL) {
                    PyErr_NoMemory();
                    Py_DECREF(group);
                    goto done;
                }
                sums = more;
            }
            index = found;
            memset(&sums[index], 0, sizeof(RollupSums));
            PyObject *number = PyLong_FromSsize_t(index);
            int failed = number == NULL || PyDict_SetItem(groups, group, number) < 0;
            Py_XDECREF(number);
            if (failed) {
                Py_DECREF(group);
                goto done;
            }
            found++;
        }
        Py_DECREF(group);
        long long *v = sums[index].v;
        v[0]++;
        for (Py_ssize_t c = 0; c < counts; c++)
            if (rollup_add(&v[1 + c], PyTuple_GET_ITEM(row, first_count + c)) < 0)
                goto done;
        if (rollup_add(&v[1 + counts], PyTuple_GET_ITEM(row, cost)) < 0)
            goto done;
    }
    out = PyList_New(found);
    if (out == NULL)
        goto done;
    PyObject *group, *at;
    Py_ssize_t position = 0;
    while (PyDict_Next(groups, &position, &group, &at)) {
        Py_ssize_t index = PyLong_AsSsize_t(at);
        PyObject *rollup = PyTuple_New(3 + 2 + counts);
        if (rollup == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, index, rollup);
        for (int g = 0; g < 3; g++) {
            PyObject *part = PyTuple_GET_ITEM(group, g);
            Py_INCREF(part);
            PyTuple_SET_ITEM(rollup, g, part);
        }
        for (Py_ssize_t c = 0; c < 2 + counts; c++) {
            PyObject *number = PyLong_FromLongLong(sums[index].v[c]);
            if (number == NULL) {
                Py_CLEAR(out);
                goto done;
            }
            PyTuple_SET_ITEM(rollup, 3 + c, number);
        }
    }
    if (PyList_Sort(out) < 0) /* (day, key, model) differ between rows: the sums are never compared */
        Py_CLEAR(out);
done:
    PyMem_Free(sums);
    Py_DECREF(groups);
    return out;
}

static PyMethodDef SqliteWriter_methods[] = {
    {"write", (PyCFunction)(void (*)(void))SqliteWriter_write, METH_FASTCALL,
     "write(rows, rollups): the rows inserted and the rollup rows upserted, in one transaction"},
    {"write_lines", (PyCFunction)SqliteWriter_write_lines, METH_O,
     "write_lines(data: bytes) -> rows stored from the journal's own lines, or None: the Python's to store"},
    {"close", (PyCFunction)SqliteWriter_close, METH_NOARGS, "close(): its statements and connection"},
    {NULL},
};

static PyTypeObject SqliteWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "relaygate._speedups.SqliteWriter",
    .tp_basicsize = sizeof(SqliteWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SqliteWriter(sqlite3_module_file, database, setup, chunk_sql, chunk_rows, one_sql, rollup_sql): "
              "the usage writer's inserts on SQLite (metering/sink.py)",
    .tp_new = SqliteWriter_new,
    .tp_dealloc = (destructor)SqliteWriter_dealloc,
    .tp_methods = SqliteWriter_methods,
};

static PyMethodDef module_methods[] = {
    {"copy_text", (PyCFunction)copy_text, METH_O,
     "copy_text(lines: bytes) -> the journal's own lines as PostgreSQL COPY text rows, or None: the Python's"},
    {"journal_line", (PyCFunction)(void (*)(void))journal_line, METH_FASTCALL,
     "journal_line(attempt_type, record) -> the record's journal line (UsageRecord.to_json), or None"},
    {"journal_write", (PyCFunction)(void (*)(void))journal_write, METH_FASTCALL,
     "journal_write(attempt_type, map, start, record) -> the offset past the line written into map, "
     "the line where it does not fit, or None"},
    {"rollup_rows", (PyCFunction)(void (*)(void))rollup_rows, METH_FASTCALL,
     "rollup_rows(shape, rows) -> metering/sink.py's rollup_rows of SQLite rows"},
    {"utc_today", (PyCFunction)utc_today, METH_NOARGS, "utc_today() -> today's date in UTC"},
    {"utc_today_at", (PyCFunction)utc_today_at, METH_O, "utc_today_at(seconds) -> the UTC date of that Unix time"},
    {"rate_headers", (PyCFunction)(void (*)(void))rate_headers, METH_FASTCALL,
     "rate_headers(packed, left_requests, reset_requests, left_tokens, reset_tokens) -> the x-ratelimit-* headers"},
    {"plain_slice", (PyCFunction)(void (*)(void))plain_slice, METH_FASTCALL,
     "plain_slice(counted, body) -> (text, finishReason, usageMetadata) or None"},
    {"response_head", (PyCFunction)(void (*)(void))response_head, METH_FASTCALL,
     "response_head(status_line, default_headers, headers, names, values, may_chunk) -> (head, length) or None"},
    {"record_row", (PyCFunction)(void (*)(void))record_row, METH_FASTCALL,
     "record_row(money_of, moment_of, sqlite, dumps, record) -> the usage record's row (metering/sink.py)"},
    {"event_slice", (PyCFunction)(void (*)(void))event_slice, METH_FASTCALL,
     "event_slice(counted, loads, error, piece, end) -> plain_slice of the event's data line, or None"},
    {NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "relaygate._speedups",
    "relaygate's per-event work of translated streams, per-request rate limits and response heads, and the "
    "writer's rows, in C.",
    -1, module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&DeltaChunkType) < 0 || PyType_Ready(&AllowanceType) < 0 || PyType_Ready(&ByteSetType) < 0 ||
        PyType_Ready(&AccountType) < 0 || PyType_Ready(&HoldType) < 0 ||
        PyType_Ready(&VerdictType) < 0 || PyType_Ready(&SqliteWriterType) < 0)
        return NULL;
    PyObject **texts[] = {&s_remaining_requests, &s_reset_requests, &s_remaining_tokens, &s_reset_tokens};
    const char *header_names[] = {"x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
                                  "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if ((*texts[i] = PyBytes_FromString(header_names[i])) == NULL)
            return NULL;
    PyObject **reasons[] = {&s_requests, &s_tokens, &s_concurrency, &s_empty};
    const char *reason_names[] = {"requests", "tokens", "concurrency", ""};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if ((*reasons[i] = PyUnicode_InternFromString(reason_names[i])) == NULL)
            return NULL;
    PyObject **keys[] = {&k_prompt_feedback, &k_error, &k_candidates, &k_usage, &k_response_id, &k_model_version,
                         &k_index, &k_content, &k_finish, &k_parts, &k_text};
    const char *names[] = {"promptFeedback", "error", "candidates", "usageMetadata", "responseId", "modelVersion",
                           "index", "content", "finishReason", "parts", "text"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if ((*keys[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return NULL;
    const char *fields[] = {"request_id", "key", "model", "provider", "upstream_model", "prompt_tokens",
                            "completion_tokens", "reasoning_tokens", "cached_tokens", "cost", "latency_ms", "ttft_ms",
                            "status", "error_code", "stream", "estimated", "attempts", "created_at",
                            "client_request_id"};
    for (size_t i = 0; i < R_COLUMNS; i++)
        if ((record_fields[i] = PyUnicode_InternFromString(fields[i])) == NULL)
            return NULL;
    for (int c = 0; c < 0x20; c++)
        json_escaped[c] = 1;
    json_escaped['"'] = json_escaped['\\'] = 1;
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    PyObject *decimal = PyImport_ImportModule("decimal");
    decimal_type = decimal == NULL ? NULL : PyObject_GetAttrString(decimal, "Decimal");
    Py_XDECREF(decimal);
    if (decimal_type == NULL || (money_zero = PyObject_CallFunction(decimal_type, "i", 0)) == NULL ||
        (s_daily = PyUnicode_InternFromString("daily")) == NULL ||
        (s_monthly = PyUnicode_InternFromString("monthly")) == NULL ||
        (zero_seconds = PyFloat_FromDouble(0.0)) == NULL || (zero_count = PyLong_FromLong(0)) == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "ABI", ABI) < 0 ||
        PyModule_AddObjectRef(m, "DeltaChunk", (PyObject *)&DeltaChunkType) < 0 ||
        PyModule_AddObjectRef(m, "Allowance", (PyObject *)&AllowanceType) < 0 ||
        PyModule_AddObjectRef(m, "ByteSet", (PyObject *)&ByteSetType) < 0 ||
        PyModule_AddObjectRef(m, "Account", (PyObject *)&AccountType) < 0 ||
        PyModule_AddObjectRef(m, "Hold", (PyObject *)&HoldType) < 0 ||
        PyModule_AddObjectRef(m, "Verdict", (PyObject *)&VerdictType) < 0 ||
        PyModule_AddObjectRef(m, "SqliteWriter", (PyObject *)&SqliteWriterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
