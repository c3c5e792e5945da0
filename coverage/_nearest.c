/*
 * Exact nearest street segment of many points, by a bucket grid walked in rings.
 *
 * The segments are registered in every grid cell their bounding box overlaps (a CSR
 * table built by coverage/snapping.py). For a point in cell (cx, cy), the cells at
 * Chebyshev ring r around it are visited for r = 0, 1, 2, ...; every segment not yet
 * measured lies wholly in cells outside the square of rings 0..r, so the search stops
 * as soon as the best distance is within the point's distance to that square's edge:
 * the answer is then exact (ties keep the first segment met). A cell wholly farther
 * than the best so far is skipped without measuring its segments. A point whose search
 * reaches max_dist without stopping is returned unsettled (the caller asks the
 * KD-tree path instead). The loop releases the GIL: chunks run on threads.
 *
 * The distance formula is the one of SegmentIndex.nearest's numpy path:
 * t = clip(((p - a) . v) / |v|^2, 0, 1), d^2 = |p - a - t v|^2.
 *
 * Private to coverage.snapping: the buffers are checked for their sizes, not their types
 * (float64, int64, bool, C order), and the cell table is validated once when
 * BucketGrid is made (start never decreasing, from 0 to the number of items).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

typedef struct {
    const double *data;  /* per registered item: ax, ay, vx, vy, 1/|v|^2 (cell order) */
    const int64_t *start, *items;
    int64_t nx, ny;
    double x0, y0, size;
} grid_t;

static inline void visit(const grid_t *g, int64_t x, int64_t y, double px, double py,
                         double *best, int64_t *bseg, double *bt)
{
    /* a cell wholly at least as far as the best so far holds nothing nearer */
    double cx0 = g->x0 + (double)x * g->size, cy0 = g->y0 + (double)y * g->size;
    double dx = fmax(fmax(cx0 - px, px - (cx0 + g->size)), 0.0);
    double dy = fmax(fmax(cy0 - py, py - (cy0 + g->size)), 0.0);
    if (dx * dx + dy * dy >= *best)
        return;
    int64_t c = y * g->nx + x;
    for (int64_t k = g->start[c]; k < g->start[c + 1]; k++) {
        const double *q = g->data + 5 * k;  /* read in order: one cell's items are adjacent */
        double rx = px - q[0], ry = py - q[1];
        double t = rx * q[2];
        t += ry * q[3];
        t *= q[4];
        if (t < 0.0) t = 0.0; else if (t > 1.0) t = 1.0;
        rx -= q[2] * t;
        ry -= q[3] * t;
        double d2 = rx * rx + ry * ry;
        if (d2 < *best) { *best = d2; *bseg = g->items[k]; *bt = t; }
    }
}

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static int check(Py_buffer *b, Py_ssize_t n, Py_ssize_t item, const char *name)
{
    if (b->len != n * item) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd bytes, got %zd", name, n * item, b->len);
        return 0;
    }
    return 1;
}

static PyObject *nearest(PyObject *self, PyObject *args)
{
    Py_buffer xy, data, st, it, oseg, ot, od2, ok;
    double x0, y0, size, max_dist;
    Py_ssize_t nx, ny;
    if (!PyArg_ParseTuple(args, "y*y*y*y*ddddnnw*w*w*w*", &xy, &data, &st, &it, &x0, &y0,
                          &size, &max_dist, &nx, &ny, &oseg, &ot, &od2, &ok))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = xy.len / (2 * (Py_ssize_t)sizeof(double));
    Py_ssize_t nitem = it.len / (Py_ssize_t)sizeof(int64_t);
    if (!(check(&xy, 2 * n, sizeof(double), "xy") &&
          check(&data, 5 * nitem, sizeof(double), "cell_data") &&
          check(&oseg, n, sizeof(int64_t), "out_seg") && check(&ot, n, sizeof(double), "out_t") &&
          check(&od2, n, sizeof(double), "out_d2") && check(&ok, n, 1, "out_settled")))
        goto done;
    if (!(size > 0.0) || nx <= 0 || ny <= 0 || nx > PY_SSIZE_T_MAX / 8 / ny) {
        PyErr_SetString(PyExc_ValueError,
                        "grid: size must be > 0 and the grid neither empty nor too large");
        goto done;
    }
    if (!check(&st, (Py_ssize_t)nx * ny + 1, sizeof(int64_t), "cell_start"))
        goto done;
    {
        const int64_t *start = st.buf;
        if (start[0] != 0 || start[(Py_ssize_t)nx * ny] != nitem) {
            PyErr_SetString(PyExc_ValueError, "cell_start does not match cell_items");
            goto done;
        }
        grid_t g = {data.buf, start, it.buf, nx, ny, x0, y0, size};
        const double *p = xy.buf;
        int64_t *out_seg = oseg.buf;
        double *out_t = ot.buf, *out_d2 = od2.buf;
        char *out_ok = ok.buf;
        /* rings beyond this many cell widths are never needed (a bound, not a count) */
        double rcap = isfinite(max_dist) ? ceil(max_dist / size) + 1.0 : 4.0e18;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            double px = p[2 * i], py = p[2 * i + 1];
            double fx = floor((px - x0) / size), fy = floor((py - y0) / size);
            out_seg[i] = -1; out_t[i] = 0.0; out_d2[i] = INFINITY; out_ok[i] = 0;
            if (!(isfinite(fx) && isfinite(fy)) || fabs(fx) > 1e15 || fabs(fy) > 1e15)
                continue;
            int64_t cx = (int64_t)fx, cy = (int64_t)fy;
            /* the first ring that meets the grid, and the one that holds all of it */
            int64_t r_first = max64(max64(-cx, cx - (nx - 1)), max64(max64(-cy, cy - (ny - 1)), 0));
            int64_t r_all = max64(max64(cx, (nx - 1) - cx), max64(cy, (ny - 1) - cy));
            if ((double)r_first > rcap)
                continue;
            int64_t r_last = (double)r_all < rcap ? r_all : (int64_t)rcap;
            double best = INFINITY, bt = 0.0;
            int64_t bseg = -1;
            char settled = 0;
            for (int64_t r = r_first; r <= r_last; r++) {
                if (r == 0) {
                    visit(&g, cx, cy, px, py, &best, &bseg, &bt);
                } else {
                    int64_t xlo = max64(cx - r, 0), xhi = min64(cx + r, nx - 1);
                    if (xlo <= xhi) {
                        if (cy - r >= 0 && cy - r < ny)
                            for (int64_t x = xlo; x <= xhi; x++) visit(&g, x, cy - r, px, py, &best, &bseg, &bt);
                        if (cy + r >= 0 && cy + r < ny)
                            for (int64_t x = xlo; x <= xhi; x++) visit(&g, x, cy + r, px, py, &best, &bseg, &bt);
                    }
                    int64_t ylo = max64(cy - r + 1, 0), yhi = min64(cy + r - 1, ny - 1);
                    if (ylo <= yhi) {
                        if (cx - r >= 0 && cx - r < nx)
                            for (int64_t y = ylo; y <= yhi; y++) visit(&g, cx - r, y, px, py, &best, &bseg, &bt);
                        if (cx + r >= 0 && cx + r < nx)
                            for (int64_t y = ylo; y <= yhi; y++) visit(&g, cx + r, y, px, py, &best, &bseg, &bt);
                    }
                }
                /* every cell not yet visited lies outside the square of rings 0..r */
                double reach = fmin(fmin(px - (x0 + (double)(cx - r) * size),
                                         (x0 + (double)(cx + r + 1) * size) - px),
                                    fmin(py - (y0 + (double)(cy - r) * size),
                                         (y0 + (double)(cy + r + 1) * size) - py));
                reach = fmax(reach, 0.0);
                if (best <= reach * reach || r == r_all) { settled = 1; break; }
            }
            out_seg[i] = bseg; out_t[i] = bt; out_d2[i] = best; out_ok[i] = settled;
        }
        Py_END_ALLOW_THREADS
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&xy); PyBuffer_Release(&data); PyBuffer_Release(&st); PyBuffer_Release(&it);
    PyBuffer_Release(&oseg); PyBuffer_Release(&ot); PyBuffer_Release(&od2); PyBuffer_Release(&ok);
    return result;
}

static PyMethodDef methods[] = {
    {"nearest", nearest, METH_VARARGS,
     "nearest(xy, cell_data, cell_start, cell_items, x0, y0, size, max_dist, nx, ny, "
     "out_seg, out_t, out_d2, out_settled): exact nearest segment per point "
     "(see coverage/_nearest.c)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "eldercare_coverage._nearest",
    "Exact nearest street segment of many points (a bucket grid walked in rings).", -1, methods,
};

PyMODINIT_FUNC PyInit__nearest(void) { return PyModule_Create(&module); }
