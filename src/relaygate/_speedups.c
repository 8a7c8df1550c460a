/* relaygate._speedups: the per-event work of translated streams, in C.
 *
 * DeltaChunk is providers/anthropic/shortcut.py's `DeltaShortcut.chunk` for the events it can
 * answer from their bytes alone: an Anthropic `content_block_delta` of the open block whose string
 * holds no escape, no control character and valid UTF-8 (nearly every event of an answer). For
 * those it writes the framed chat chunk (head, the string's bytes as they came, tail) without
 * entering the interpreter; an event that is not that block's delta gets None, and its block's
 * `content_block_stop` b"", as in Python. Anything else about the string (an escape, a quote,
 * a control character, bytes that are not UTF-8) goes to the Python method it was made with, so
 * every answer is the one the Python code gives: this changes what an event costs, never its bytes.
 * The module is optional: without a compiler relaygate runs the Python code alone.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>

#define ABI 2 /* speedups.py checks it: a stale build is not used */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *named;    /* bytes: `event:` line, `data:` and the delta's JSON up to its string's quote */
    PyObject *bare;     /* bytes: the same after `data:` alone */
    PyObject *stop;     /* bytes: the block's `content_block_stop` event, or None */
    PyObject *head;     /* bytes: the framed chunk up to the string */
    PyObject *tail;     /* bytes: and after it */
    PyObject *fallback; /* the Python `chunk(piece, end)` */
} DeltaChunk;

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), no control
 * character, no quote and no backslash: a JSON string's content that parses to itself. */
static int
plain_json_text(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == '"' || c == '\\')
                return 0;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (i + 2 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            i += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (i + 3 >= n || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xC0) != 0x80
                || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            i += 4;
        }
        else
            return 0;
    }
    return 1;
}

static int
starts_with(const char *s, Py_ssize_t n, PyObject *prefix)
{
    Py_ssize_t k = PyBytes_GET_SIZE(prefix);
    return n >= k && memcmp(s, PyBytes_AS_STRING(prefix), k) == 0;
}

enum { DELTA, EMPTY, NOT_MINE, ASK_PYTHON };

/* What one event, p[0:end] (the piece going on to n), is: this block's delta with a plain string
 * (DELTA, its string with quotes at *text, *length bytes), the same with an empty string or the
 * block's stop (EMPTY), not this block's delta (NOT_MINE: None), or anything Python must look at. */
static int
classify(DeltaChunk *self, const char *p, Py_ssize_t n, Py_ssize_t end, const char **text, Py_ssize_t *length)
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
    *text = p + quote;
    *length = end - 2 - quote;
    if (!plain_json_text((const unsigned char *)p + quote + 1, *length - 2))
        return ASK_PYTHON;
    return *length == 2 ? EMPTY : DELTA;
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
    switch (classify(self, p, n, end, &text, &length)) {
    case NOT_MINE:
        Py_RETURN_NONE;
    case EMPTY:
        return PyBytes_FromStringAndSize(NULL, 0);
    case ASK_PYTHON:
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    Py_ssize_t h = PyBytes_GET_SIZE(self->head), t = PyBytes_GET_SIZE(self->tail);
    PyObject *out = PyBytes_FromStringAndSize(NULL, h + length + t);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    memcpy(o, PyBytes_AS_STRING(self->head), h);
    memcpy(o + h, text, length); /* the string with its quotes, as it came */
    memcpy(o + h + length, PyBytes_AS_STRING(self->tail), t);
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
 * with `blank`, as long as each is one `__call__` answers itself (a plain delta, an empty one, the
 * block's stop): their framed chunks joined, where the first other event begins, and how many. */
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
    const char *head = PyBytes_AS_STRING(self->head), *tail = PyBytes_AS_STRING(self->tail);
    char *buffer = NULL;
    Py_ssize_t used = 0, size = 0, count = 0;
    for (;;) {
        Py_ssize_t stop = find(p, n, pos, blank, k);
        if (stop < 0)
            break;
        const char *text = NULL;
        Py_ssize_t length = 0;
        int kind = classify(self, p + pos, stop - pos, stop - pos, &text, &length);
        if (kind == DELTA) {
            Py_ssize_t need = used + h + length + t;
            if (need > size) {
                size = need * 2 > 4096 ? need * 2 : 4096;
                char *grown = PyMem_Realloc(buffer, size);
                if (grown == NULL) {
                    PyMem_Free(buffer);
                    return PyErr_NoMemory();
                }
                buffer = grown;
            }
            memcpy(buffer + used, head, h);
            memcpy(buffer + used + h, text, length);
            memcpy(buffer + used + h + length, tail, t);
            used = need;
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
    PyObject *named, *bare, *stop, *head, *tail, *fallback;
    static char *names[] = {"named", "bare", "stop", "head", "tail", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "SSOSSO:DeltaChunk", names, &named, &bare, &stop, &head,
                                     &tail, &fallback))
        return NULL;
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
    return (PyObject *)self;
}

static int
DeltaChunk_traverse(DeltaChunk *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fallback); /* a bound method of the shortcut that holds this: a cycle */
    return 0;
}

static int
DeltaChunk_clear(DeltaChunk *self)
{
    Py_CLEAR(self->fallback);
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
    .tp_doc = "DeltaChunk(named, bare, stop, head, tail, fallback)(piece, end): a framed chat chunk, b\"\" or None",
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
plain_slice(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyAnySet_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "plain_slice(counted: frozenset, body)");
        return NULL;
    }
    PyObject *counted = args[0], *body = args[1];
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

static PyMethodDef module_methods[] = {
    {"plain_slice", (PyCFunction)(void (*)(void))plain_slice, METH_FASTCALL,
     "plain_slice(counted, body) -> (text, finishReason, usageMetadata) or None"},
    {NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "relaygate._speedups", "relaygate's per-event work of translated streams, in C.", -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&DeltaChunkType) < 0)
        return NULL;
    PyObject **keys[] = {&k_prompt_feedback, &k_error, &k_candidates, &k_usage, &k_response_id, &k_model_version,
                         &k_index, &k_content, &k_finish, &k_parts, &k_text};
    const char *names[] = {"promptFeedback", "error", "candidates", "usageMetadata", "responseId", "modelVersion",
                           "index", "content", "finishReason", "parts", "text"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if ((*keys[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "ABI", ABI) < 0 || PyModule_AddObjectRef(m, "DeltaChunk",
                                                                             (PyObject *)&DeltaChunkType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
