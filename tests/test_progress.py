from neuron_types.progress import progress


def test_progress_yields_every_item_and_stays_silent_off_a_terminal(capsys):
    assert list(progress(range(5), "fits")) == [0, 1, 2, 3, 4]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # pytest's capture is not a TTY
