#pragma once
// Standalone SVG line plots (loss curves, ROC curves) with axes, ticks and a legend; no dependencies.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../io/atomic_write.hpp"

namespace siamese {

// One named line: points (xs[i], ys[i]); requires xs.size() == ys.size(). Non-finite points are left out.
struct PlotSeries {
  std::string name;
  std::vector<double> xs, ys;
};

namespace detail {

// The plot's geometry in SVG user units.
struct PlotFrame {
  static constexpr double width = 640, height = 420;
  static constexpr double left = 72, right = 16, top = 40, bottom = 56;
  static constexpr double plot_w = width - left - right, plot_h = height - top - bottom;
};

inline std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

inline std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// An axis spanning [lo, hi] on multiples of a 1-2-5 step, about five ticks.
struct Axis {
  double lo, hi, step;
  int decimals;

  static Axis fit(double min, double max) {
    if (!(min <= max)) min = 0, max = 1;  // no finite data
    if (max - min < 1e-12 * std::max(1.0, std::abs(max))) {
      const double pad = std::max(1.0, std::abs(max)) * 0.5;
      min -= pad;
      max += pad;
    }
    const double raw = (max - min) / 5;
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / mag;
    const double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
    return {std::floor(min / step + 1e-9) * step, std::ceil(max / step - 1e-9) * step, step, decimals};
  }
  double frac(double v) const { return (v - lo) / (hi - lo); }
};

}  // namespace detail

// The SVG document of a line plot of `series`, one colour each, with a legend in the corner of the plot that
// covers the fewest data points.
inline std::string render_line_plot(std::string_view title, std::string_view x_label, std::string_view y_label,
                                    std::span<const PlotSeries> series) {
  using F = detail::PlotFrame;
  static constexpr const char* colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                            "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series) {
    if (s.xs.size() != s.ys.size())
      throw std::invalid_argument("siamese::render_line_plot: series '" + s.name + "' has " +
                                  std::to_string(s.xs.size()) + " x values but " + std::to_string(s.ys.size()) +
                                  " y values");
    for (std::size_t i = 0; i < s.xs.size(); ++i)
      if (std::isfinite(s.xs[i]) && std::isfinite(s.ys[i])) {
        x0 = std::min(x0, s.xs[i]), x1 = std::max(x1, s.xs[i]);
        y0 = std::min(y0, s.ys[i]), y1 = std::max(y1, s.ys[i]);
      }
  }
  const auto ax = detail::Axis::fit(x0, x1), ay = detail::Axis::fit(y0, y1);
  const auto px = [&](double x) { return F::left + ax.frac(x) * F::plot_w; };
  const auto py = [&](double y) { return F::top + (1 - ay.frac(y)) * F::plot_h; };
  const auto num = [](double v) { return detail::fmt(v, 2); };

  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(F::width) + "\" height=\"" + num(F::height) +
       "\" viewBox=\"0 0 " + num(F::width) + " " + num(F::height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<rect x=\"0\" y=\"0\" width=\"" + num(F::width) + "\" height=\"" + num(F::height) + "\" fill=\"white\"/>\n";
  o += "<text x=\"" + num(F::width / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" +
       detail::xml_escape(title) + "</text>\n";
  // Grid lines and tick labels; the tick count is recomputed from the step so rounding cannot add one.
  const auto ticks = [](const detail::Axis& a) { return static_cast<int>(std::lround((a.hi - a.lo) / a.step)); };
  for (int i = 0; i <= ticks(ax); ++i) {
    const double v = ax.lo + i * ax.step, x = px(v);
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(F::top) + "\" x2=\"" + num(x) + "\" y2=\"" + num(F::top + F::plot_h) +
         "\" stroke=\"#dddddd\"/>\n";
    o += "<text class=\"xtick\" x=\"" + num(x) + "\" y=\"" + num(F::top + F::plot_h + 16) +
         "\" text-anchor=\"middle\">" + detail::fmt(v, ax.decimals) + "</text>\n";
  }
  for (int i = 0; i <= ticks(ay); ++i) {
    const double v = ay.lo + i * ay.step, y = py(v);
    o += "<line x1=\"" + num(F::left) + "\" y1=\"" + num(y) + "\" x2=\"" + num(F::left + F::plot_w) + "\" y2=\"" +
         num(y) + "\" stroke=\"#dddddd\"/>\n";
    o += "<text class=\"ytick\" x=\"" + num(F::left - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
         detail::fmt(v, ay.decimals) + "</text>\n";
  }
  o += "<rect x=\"" + num(F::left) + "\" y=\"" + num(F::top) + "\" width=\"" + num(F::plot_w) + "\" height=\"" +
       num(F::plot_h) + "\" fill=\"none\" stroke=\"black\"/>\n";
  o += "<text x=\"" + num(F::left + F::plot_w / 2) + "\" y=\"" + num(F::height - 12) + "\" text-anchor=\"middle\">" +
       detail::xml_escape(x_label) + "</text>\n";
  o += "<text x=\"16\" y=\"" + num(F::top + F::plot_h / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
       num(F::top + F::plot_h / 2) + ")\">" + detail::xml_escape(y_label) + "</text>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    std::string pts;
    for (std::size_t i = 0; i < s.xs.size(); ++i)
      if (std::isfinite(s.xs[i]) && std::isfinite(s.ys[i])) {
        if (!pts.empty()) pts += ' ';
        pts.append(num(px(s.xs[i]))).append(",").append(num(py(s.ys[i])));
      }
    o += "<polyline fill=\"none\" stroke=\"" + std::string(colours[k % 10]) + "\" stroke-width=\"1.5\" points=\"" +
         pts + "\"><title>" + detail::xml_escape(s.name) + "</title></polyline>\n";
  }
  // Legend box: 170 wide, 16 per entry; corners tried in the order top-right, bottom-right, top-left, bottom-left.
  const double box_w = 170, box_h = 8 + 16 * static_cast<double>(series.size());
  double lx = F::left + F::plot_w - box_w, ly0 = F::top;
  std::size_t fewest = std::numeric_limits<std::size_t>::max();
  for (int corner = 0; corner < 4; ++corner) {
    const double cx = corner < 2 ? F::left + F::plot_w - box_w : F::left;
    const double cy = corner % 2 == 0 ? F::top : F::top + F::plot_h - box_h;
    std::size_t covered = 0;
    for (const auto& s : series)
      for (std::size_t i = 0; i < s.xs.size(); ++i) {
        const double x = px(s.xs[i]), y = py(s.ys[i]);
        covered += x >= cx && x <= cx + box_w && y >= cy && y <= cy + box_h;
      }
    if (covered < fewest) fewest = covered, lx = cx, ly0 = cy;
  }
  if (!series.empty())
    o += "<rect x=\"" + num(lx + 2) + "\" y=\"" + num(ly0 + 2) + "\" width=\"" + num(box_w - 4) + "\" height=\"" +
         num(box_h - 4) + "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999999\"/>\n";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const double ly = ly0 + 18 + 16 * static_cast<double>(k);
    o += "<line x1=\"" + num(lx + 8) + "\" y1=\"" + num(ly - 4) + "\" x2=\"" + num(lx + 28) + "\" y2=\"" + num(ly - 4) +
         "\" stroke=\"" + colours[k % 10] + "\" stroke-width=\"2\"/>\n";
    o += "<text class=\"legend\" x=\"" + num(lx + 34) + "\" y=\"" + num(ly) + "\">" + detail::xml_escape(s.name) +
         "</text>\n";
  }
  o += "</svg>\n";
  return o;
}

// Writes render_line_plot(...) to `path` atomically (io/atomic_write.hpp): a reader never sees half a file.
// Throws FileError naming the file when it cannot be written.
inline void write_line_plot(const std::filesystem::path& path, std::string_view title, std::string_view x_label,
                            std::string_view y_label, std::span<const PlotSeries> series) {
  write_file_atomically(path, render_line_plot(title, x_label, y_label, series));
}

inline void write_line_plot(const std::filesystem::path& path, std::string_view title, std::string_view x_label,
                            std::string_view y_label, std::initializer_list<PlotSeries> series) {
  write_line_plot(path, title, x_label, y_label, std::span<const PlotSeries>(series.begin(), series.size()));
}

}  // namespace siamese
