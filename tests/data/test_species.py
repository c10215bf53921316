"""SpeciesTable: sorting, indexing, and the unknown-element error."""

import numpy as np
import pytest

from equitens.data import Configuration, SpeciesTable


def test_table_is_sorted_unique_and_indexes():
    table = SpeciesTable((29, 1, 8, 1))
    assert table.atomic_numbers == (1, 8, 29)
    assert len(table) == 3
    assert table.symbols == ("H", "O", "Cu")
    z = np.array([[29, 1], [8, 29]])
    index = table.index(z)
    assert index.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(table.atomic_numbers)[index], z)


def test_table_is_hashable_and_equal_by_content():
    assert SpeciesTable((8, 1)) == SpeciesTable((1, 8, 8))
    assert hash(SpeciesTable((8, 1))) == hash(SpeciesTable((1, 8)))


def test_unknown_element_names_it_and_the_known_ones():
    table = SpeciesTable((1, 6, 8))
    with pytest.raises(ValueError, match=r"unknown element N \(Z=7\).*H, C, O"):
        table.index([1, 7, 6])


@pytest.mark.parametrize("bad", [(), (0, 1), (1.5,), (119,)])
def test_invalid_atomic_numbers(bad):
    with pytest.raises(ValueError, match="atomic numbers|non-empty"):
        SpeciesTable(bad)


def test_from_configurations():
    configs = [
        Configuration(np.array([6, 1]), np.eye(2, 3)),
        Configuration(np.array([8]), np.zeros((1, 3))),
    ]
    assert SpeciesTable.from_configurations(configs).atomic_numbers == (1, 6, 8)
    with pytest.raises(ValueError, match="empty"):
        SpeciesTable.from_configurations([])
