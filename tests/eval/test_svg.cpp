#include <siamese/eval/svg.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace {

// Minimal well-formedness: every element closes in order, the root is <svg>, attribute quotes balance.
bool well_formed(const std::string& doc, std::string* root) {
  std::vector<std::string> stack;
  std::size_t pos = 0;
  bool seen_root = false;
  while ((pos = doc.find('<', pos)) != std::string::npos) {
    const std::size_t end = doc.find('>', pos);
    if (end == std::string::npos) return false;
    std::string tag = doc.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (tag.starts_with("?")) continue;
    std::size_t quotes = 0;
    for (char c : tag) quotes += c == '"';
    if (quotes % 2 != 0) return false;
    if (tag.starts_with("/")) {
      if (stack.empty() || stack.back() != tag.substr(1)) return false;
      stack.pop_back();
      continue;
    }
    const std::string name = tag.substr(0, tag.find_first_of(" \n/"));
    if (!seen_root) *root = name, seen_root = true;
    else if (stack.empty()) return false;  // a second root
    if (!tag.ends_with("/")) stack.push_back(name);
  }
  return seen_root && stack.empty();
}

std::vector<std::vector<std::pair<double, double>>> polylines(const std::string& doc) {
  std::vector<std::vector<std::pair<double, double>>> out;
  std::size_t pos = 0;
  while ((pos = doc.find("<polyline", pos)) != std::string::npos) {
    const std::size_t a = doc.find("points=\"", pos) + 8, b = doc.find('"', a);
    std::istringstream in(doc.substr(a, b - a));
    std::vector<std::pair<double, double>> pts;
    std::string pair;
    while (in >> pair) {
      const auto comma = pair.find(',');
      pts.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
    }
    out.push_back(pts);
    pos = b;
  }
  return out;
}

double attr(const std::string& doc, const std::string& name) {
  const std::size_t a = doc.find(name + "=\"") + name.size() + 2;
  return std::stod(doc.substr(a, doc.find('"', a) - a));
}

}  // namespace

TEST_CASE("line plot: valid document, points map into the plot area") {
  siamese::PlotSeries loss{"train loss", {}, {}}, val{"validation <loss> & more", {}, {}};
  for (int i = 0; i < 50; ++i) {
    loss.xs.push_back(i);
    loss.ys.push_back(2.0 * std::exp(-i / 10.0) + 0.1);
  }
  for (int i = 0; i < 50; i += 5) {
    val.xs.push_back(i);
    val.ys.push_back(i == 25 ? NAN : 2.2 * std::exp(-i / 12.0) + 0.2);  // one missing point
  }
  const std::vector<siamese::PlotSeries> series{loss, val};
  const std::string doc = siamese::render_line_plot("Loss & accuracy", "epoch", "loss", series);
  std::string root;
  CHECK(well_formed(doc, &root));
  CHECK(root == "svg");
  CHECK(doc.find("xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(doc.find("Loss &amp; accuracy") != std::string::npos);
  CHECK(doc.find("validation &lt;loss&gt; &amp; more") != std::string::npos);

  const double w = attr(doc, "width"), h = attr(doc, "height");
  const auto lines = polylines(doc);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].size() == 50);
  CHECK(lines[1].size() == 9);
  for (const auto& line : lines)
    for (auto [x, y] : line) {
      CHECK(x > 0);
      CHECK(x < w);
      CHECK(y > 0);
      CHECK(y < h);
    }
  // The map is affine in x and decreasing in y: compare ratios against the data of the first series.
  const auto& p = lines[0];
  for (std::size_t i = 1; i + 1 < p.size(); ++i) {
    const double fx = (loss.xs[i] - loss.xs[0]) / (loss.xs.back() - loss.xs[0]);
    CHECK((p[i].first - p[0].first) / (p.back().first - p[0].first) == doctest::Approx(fx).epsilon(1e-3));
    const double fy = (loss.ys[i] - loss.ys[0]) / (loss.ys.back() - loss.ys[0]);
    CHECK((p[i].second - p[0].second) / (p.back().second - p[0].second) == doctest::Approx(fy).epsilon(1e-2));
    CHECK(p[i].second > p[i - 1].second);  // a falling loss goes down the page
  }
  // Both series share the axes: x = 0 maps to the same column.
  CHECK(lines[1][0].first == doctest::Approx(p[0].first));
  // The legend avoids the falling curves: top right.
  const std::size_t leg = doc.find("class=\"legend\"");
  CHECK(attr(doc.substr(leg), "x") > w / 2);
  CHECK(attr(doc.substr(leg), "y") < h / 2);
  // Ticks cover the data range.
  CHECK(doc.find(">0</text>") != std::string::npos);
  CHECK(doc.find(">50</text>") != std::string::npos);
}

TEST_CASE("ROC-style plot, constant series, empty input, errors") {
  const std::vector<siamese::PlotSeries> roc{{"model", {0, 0.1, 0.4, 1}, {0, 0.6, 0.9, 1}},
                                             {"chance", {0, 1}, {0, 1}}};
  const auto doc = siamese::render_line_plot("ROC", "false positive rate", "true positive rate", roc);
  std::string root;
  CHECK(well_formed(doc, &root));
  CHECK(doc.find(">0.0</text>") != std::string::npos);
  CHECK(doc.find(">1.0</text>") != std::string::npos);
  const auto lines = polylines(doc);
  // A ROC curve fills the top left and ends top right: the legend goes bottom right.
  const std::size_t leg = doc.find("class=\"legend\"");
  CHECK(attr(doc.substr(leg), "x") > attr(doc, "width") / 2);
  CHECK(attr(doc.substr(leg), "y") > attr(doc, "height") / 2);
  // (0, 0) is the bottom-left corner of the plot and (1, 1) the top-right, for both series.
  CHECK(lines[0].front() == lines[1].front());
  CHECK(lines[0].back() == lines[1].back());
  CHECK(lines[0].back().first > lines[0].front().first);
  CHECK(lines[0].back().second < lines[0].front().second);

  const std::vector<siamese::PlotSeries> flat{{"flat", {1, 2, 3}, {5, 5, 5}}};
  const auto f = polylines(siamese::render_line_plot("t", "x", "y", flat));
  REQUIRE(f[0].size() == 3);
  CHECK(std::isfinite(f[0][0].second));
  CHECK(well_formed(siamese::render_line_plot("empty", "x", "y", {}), &root));

  const std::vector<siamese::PlotSeries> bad{{"bad", {1, 2}, {1}}};
  CHECK_THROWS_WITH_AS(siamese::render_line_plot("t", "x", "y", bad), doctest::Contains("'bad'"),
                       std::invalid_argument);
}

TEST_CASE("write_line_plot writes the document atomically") {
  const auto path = std::filesystem::temp_directory_path() / ("siamese_test_svg_" + std::to_string(::getpid()) + ".svg");
  siamese::write_line_plot(path, "loss", "step", "value", {{"a", {0, 1, 2}, {3, 1, 2}}});
  CHECK_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  std::ifstream in(path);
  const std::string doc((std::istreambuf_iterator<char>(in)), {});
  const std::vector<siamese::PlotSeries> same{{"a", {0, 1, 2}, {3, 1, 2}}};
  CHECK(doc == siamese::render_line_plot("loss", "step", "value", same));
  std::filesystem::remove(path);
  CHECK_THROWS_AS(siamese::write_line_plot(path / "sub" / "x.svg", "t", "x", "y", {}), std::runtime_error);
}
