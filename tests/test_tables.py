"""The one markdown-table writer, against tables written out by hand."""

from stability.util.tables import markdown_table


def test_table_written_out_by_hand():
    text = markdown_table(("a", "b"), [(1, "x"), (2.5, "y")])
    assert text == "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | y |"


def test_a_cell_cannot_break_the_table():
    # a pipe would open a column and a line break would end the row: escaped, and a space
    text = markdown_table(["k"], [["p|q\nr"]], cell=lambda v: v.upper())
    assert text.splitlines() == ["| k |", "|---|", "| P\\|Q R |"]
