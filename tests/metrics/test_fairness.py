

def test_bands_are_shown_by_their_lower_end_and_other_groups_as_sorted():
    """The credit report listed age bands as 25–35, 35–50, < 25, ≥ 50 (sorted as text)."""
    from auditor.metrics.fairness import shown_order

    names = ["(missing)", "25–35", "35–50", "< 25", "≥ 50"]
    assert [names[j] for j in shown_order(names)] == ["< 25", "25–35", "35–50", "≥ 50", "(missing)"]
    quartiles = ["19–27", "27–36", "36–45", "45–68"]
    assert [quartiles[j] for j in shown_order(quartiles)] == quartiles
    words = ["divorced", "married", "single"]
    assert shown_order(words) == [0, 1, 2]
    assert shown_order(["< 25", "north"]) == [0, 1]  # not all bands: as sorted
