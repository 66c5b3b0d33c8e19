"""The column-wise engine: the path of :func:`boamps_etl.convert_to` for clean CodeCarbon CSVs.

The row-by-row pipeline (:mod:`boamps_etl.pipeline`) is the reference: it handles every
damaged or unusual file and says what is wrong with each row. Most files are clean, though:
UTF-8, one header on the first line, every row as wide as the header, no quotes, no blank
lines. For those this package gives the same output, byte for byte, at a fraction of the
cost:

* **Reading** (:mod:`.scan`, :mod:`.arrays`) with Arrow's CSV reader, in blocks, only the
  columns the mapping reads. A first pass over the bytes checks that the file is one this
  path reads exactly as the reference reader does (it falls back to the reference
  otherwise), and a pass over the ``run_id`` column alone finds the last row of each run.
* **Mapping** column by column (:mod:`.columns`): the mapping's own rules and transforms
  (:func:`boamps_etl.mapping.apply_mapping`), with plain numbers parsed by Arrow (a strict
  decimal pattern first; other cells go through :func:`boamps_etl.transforms.to_float`).
* **Assembly and JSON** once per *signature* (:mod:`boamps_etl.shapes`; :mod:`.templates`,
  :mod:`.convert`): the first report of a signature is built, merged, ordered, fully
  validated and serialised by the reference code; its JSON text, with each mapped value
  replaced by a slot, becomes the template every later report of that signature is written
  through. Each template is checked by rendering that first report through it and
  comparing the text.
* **Validation** stays complete (:mod:`.checks`): a report of a known valid signature is
  valid exactly when each mapped value passes the value constraints of its path, checked
  column-wise.
* **Parquet** (:mod:`.typed`): the rows of a template are built as a typed Arrow table
  from the mapped values, column by column, not written as CSV lines and read back.
* **Workers** (:mod:`.parallel`): a large file is cut into ranges of rows, handed out to
  worker processes one at a time, their lines kept in order.

Every row the fast path cannot vouch for (a cell that does not parse, a value outside its
bounds, a signature never seen valid, a row without run_id) is converted by
:func:`boamps_etl.pipeline.convert_table` instead, and its output takes its place in order.
``tests/test_fastpath.py`` compares both paths on every fixture, the corpus and generated
files of every CodeCarbon version.

Each column-wise function that repeats a rule of the reference code (a *twin*) is named in
that reference function's docstring ("Column-wise twin: ...").
"""
