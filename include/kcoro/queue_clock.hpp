// kcoro/queue_clock.hpp — where a work queue reads the time and how it waits for a delayed item:
// the steady clock with a timer per alarm, or a ManualClock that tests advance by hand.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace kcoro {

/// Where a work queue reads the time, and how it waits for a delayed item.
class QueueClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  /// A one-shot wake-up the queue re-arms. The queue calls set() and cancel() under its lock.
  class Alarm {
   public:
    virtual ~Alarm() = default;
    /// Calls the alarm's function once the clock reaches `at` (replacing any earlier setting),
    /// from any thread but never inside set() itself.
    virtual void set(time_point at) = 0;
    virtual void cancel() = 0;
  };

  virtual ~QueueClock() = default;
  virtual time_point now() const = 0;
  /// An alarm that runs `fire` (which must not throw), using `ex` if it needs an executor.
  virtual std::unique_ptr<Alarm> make_alarm(const boost::asio::any_io_executor& ex,
                                            std::function<void()> fire) = 0;
};

/// std::chrono::steady_clock, with a steady_timer per alarm.
class SteadyQueueClock final : public QueueClock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  std::unique_ptr<Alarm> make_alarm(const boost::asio::any_io_executor& ex,
                                    std::function<void()> fire) override {
    return std::make_unique<TimerAlarm>(ex, std::move(fire));
  }

  static std::shared_ptr<QueueClock> instance() {
    static const std::shared_ptr<QueueClock> clock = std::make_shared<SteadyQueueClock>();
    return clock;
  }

 private:
  class TimerAlarm final : public Alarm {
   public:
    TimerAlarm(const boost::asio::any_io_executor& ex, std::function<void()> fire)
        : timer_(ex), fire_(std::move(fire)) {}
    void set(time_point at) override {
      timer_.expires_at(at);  // Cancels the previous wait.
      timer_.async_wait([fire = fire_](boost::system::error_code ec) {
        if (!ec) fire();
      });
    }
    void cancel() override { timer_.cancel(); }

   private:
    boost::asio::steady_timer timer_;
    std::function<void()> fire_;
  };
};

/// A clock that moves only when told to: tests advance it instead of sleeping. Alarms whose time
/// has come fire inside advance()/set_time(), on the calling thread, after the clock's own lock is
/// released.
class ManualClock final : public QueueClock {
 public:
  explicit ManualClock(time_point start = time_point{} + std::chrono::hours(1)) : now_(start) {}

  time_point now() const override {
    std::lock_guard lk(mu_);
    return now_;
  }
  void advance(duration d) { set_time(now() + d); }
  void set_time(time_point t) {
    std::vector<std::function<void()>> due;
    {
      std::lock_guard lk(mu_);
      now_ = t;
      for (ManualAlarm* a : alarms_) {
        if (a->armed_ && a->at_ <= now_) {
          a->armed_ = false;
          due.push_back(a->fire_);
        }
      }
    }
    for (auto& f : due)
      f();
  }
  /// The earliest time an alarm is set for, if any (for tests that step from alarm to alarm).
  std::optional<time_point> next_alarm() const {
    std::lock_guard lk(mu_);
    std::optional<time_point> next;
    for (ManualAlarm* a : alarms_)
      if (a->armed_ && (!next || a->at_ < *next)) next = a->at_;
    return next;
  }
  /// Alarms currently set (for tests).
  std::size_t armed_alarms() const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (ManualAlarm* a : alarms_)
      n += a->armed_ ? 1 : 0;
    return n;
  }

  std::unique_ptr<Alarm> make_alarm(const boost::asio::any_io_executor& ex,
                                    std::function<void()> fire) override {
    return std::make_unique<ManualAlarm>(*this, ex, std::move(fire));
  }

 private:
  class ManualAlarm final : public Alarm {
   public:
    ManualAlarm(ManualClock& c, boost::asio::any_io_executor ex, std::function<void()> fire)
        : clock_(c), ex_(std::move(ex)), fire_(std::move(fire)) {
      std::lock_guard lk(clock_.mu_);
      clock_.alarms_.push_back(this);
    }
    ~ManualAlarm() override {
      std::lock_guard lk(clock_.mu_);
      std::erase(clock_.alarms_, this);
    }
    void set(time_point at) override {
      std::lock_guard lk(clock_.mu_);
      if (at <= clock_.now_) {
        armed_ = false;
        boost::asio::post(ex_, fire_);  // Already due: fire soon, but not inside set().
        return;
      }
      at_ = at;
      armed_ = true;
    }
    void cancel() override {
      std::lock_guard lk(clock_.mu_);
      armed_ = false;
    }

   private:
    friend class ManualClock;
    ManualClock& clock_;
    boost::asio::any_io_executor ex_;
    std::function<void()> fire_;
    time_point at_{};
    bool armed_ = false;
  };

  mutable std::mutex mu_;
  time_point now_;
  std::vector<ManualAlarm*> alarms_;
};

}  // namespace kcoro
