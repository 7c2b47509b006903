"""Tests of paired.py on a split written here (run by scripts/test)."""
import csv
import math
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import paired  # noqa: E402


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


class Paired(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        # u1 holds out a and b, u2 holds out c, u3 (tied) holds out d.
        write(os.path.join(d, "test.csv"), ["user_id", "item_id"],
              [["u1", "a"], ["u1", "b"], ["u2", "c"], ["u3", "d"]])
        write(os.path.join(d, "tied.csv"), ["user_id"], [["u3"]])
        # A finds everything first; B finds u1's a second, nothing for u2,
        # and has no list for u3.
        self.a = os.path.join(d, "a.csv")
        self.b = os.path.join(d, "b.csv")
        write(self.a, ["user_id", "rank", "item_id"],
              [["u1", 2, "b"], ["u1", 1, "a"], ["u2", 1, "c"], ["u3", 1, "d"]])
        write(self.b, ["user_id", "rank", "item_id"],
              [["u1", 1, "x"], ["u1", 2, "a"], ["u2", 1, "y"]])

    def tearDown(self):
        self.dir.cleanup()

    def test_ndcg_matches_the_eval_metric(self):
        ideal = 1 + 1 / math.log2(3)
        self.assertAlmostEqual(paired.ndcg(["x", "a"], {"a", "b"}, 10), (1 / math.log2(3)) / ideal)
        self.assertEqual(paired.ndcg(["a", "b"], {"a", "b"}, 10), 1.0)
        self.assertEqual(paired.ndcg(["b", "a"], {"a", "b"}, 1), 1.0)
        self.assertEqual(paired.ndcg([], {"a"}, 10), 0.0)

    def test_lists_are_read_in_rank_order(self):
        self.assertEqual(paired.read_lists(self.a)["u1"], ["a", "b"])

    def test_untied_drops_the_tied_users(self):
        self.assertEqual(sorted(paired.read_test(self.dir.name, True)), ["u1", "u2"])
        self.assertEqual(len(paired.read_test(self.dir.name, False)), 3)

    def test_identical_systems_have_no_spread(self):
        ratio, lo, hi, _ = paired.paired_ratio([0.5, 0.2, 0.0], [0.5, 0.2, 0.0], 500, 1)
        self.assertEqual((ratio, lo, hi), (1.0, 1.0, 1.0))

    def test_the_interval_holds_the_ratio_and_spreads_with_few_users(self):
        a = [1.0, 0.0, 1.0, 0.5, 0.0, 1.0]
        b = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
        ratio, lo, hi, ratios = paired.paired_ratio(a, b, 2000, 0)
        self.assertAlmostEqual(ratio, 3.5 / 3.0)
        self.assertLess(lo, ratio)
        self.assertGreater(hi, ratio)
        self.assertGreater(hi - lo, 0.3)
        self.assertEqual(len(ratios), 2000)

    def test_command_line(self):
        out = subprocess.run([sys.executable, paired.__file__, "--split", self.dir.name,
                              self.a, self.b, "--draws", "200"],
                             capture_output=True, text=True, check=True).stdout
        self.assertIn("3 users;", out)
        self.assertIn("better for 3, worse for 0", out)
        empty = os.path.join(self.dir.name, "empty.csv")
        write(empty, ["user_id", "rank", "item_id"], [])
        r = subprocess.run([sys.executable, paired.__file__, "--split", self.dir.name, self.a, empty],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("scores 0 on every test user", r.stderr)


if __name__ == "__main__":
    unittest.main()
