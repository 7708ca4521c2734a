import matplotlib

matplotlib.use('Agg')
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from ghostdet.analysis.figures import log_y, save_figure  # noqa: E402


def test_save_figure_makes_the_folder_writes_at_the_dpi_and_closes(tmp_path):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2], [3, 4])
    out = save_figure(fig, str(tmp_path / 'a' / 'b.png'), dpi=50)
    assert out == tmp_path / 'a' / 'b.png'
    assert mpimg.imread(out).shape[:2] == (150, 200)
    assert fig.number not in plt.get_fignums()


def test_log_y_labels_in_plain_numbers():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [0.3, 0.5, 2.0])
    log_y(ax)
    fig.canvas.draw()
    assert ax.get_yscale() == 'log'
    labels = {t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels()}
    assert {'0.3', '0.5', '1', '2'} <= labels
    plt.close(fig)
