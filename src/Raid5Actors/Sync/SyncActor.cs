using Akka.Actor;
using Raid5Actors.Configuration;
using Raid5Actors.Stripes;
using static Raid5Actors.Sync.SyncProtocol;

namespace Raid5Actors.Sync;

/// <summary>
/// One resync, recovery, check or repair pass (md's md_do_sync). Walks its row ranges in order,
/// asking the array to sync each row through that row's stripe, with at most
/// <c>rows-in-flight</c> rows out at once. Paced by a token bucket refilled at
/// <c>speed-max</c>, or at <c>speed-min</c> while requests keep arriving (md slows a sync down
/// for user I/O, never below its minimum). Owns: the position, the counts, the pacing.
/// Reports progress (rate, ETA) to the array, which checkpoints it.
/// </summary>
public sealed class SyncActor : UntypedActor, IWithTimers
{
    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    private static readonly TimeSpan kTickInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan kRateWindow = TimeSpan.FromSeconds(2);

    private readonly SyncKind _kind;
    private readonly int _targetRole;
    private readonly IReadOnlyList<RowRange> _ranges;
    private readonly long _rowBytes;
    private readonly SyncSettings _settings;
    private readonly IActorRef _array;
    private readonly long _totalRows;
    private readonly Queue<(DateTime At, long Rows)> _samples = new();
    private int _rangeIndex;
    private long _nextRow;
    private int _inFlight;
    private long _doneRows;
    private long _mismatches;
    private bool _userBusy;
    private double _tokens;
    private DateTime _lastRefill = DateTime.UtcNow;
    private bool _finished;

    public SyncActor(SyncKind kind, int targetRole, IReadOnlyList<RowRange> ranges, long rowBytes, SyncSettings settings, IActorRef array)
    {
        _kind = kind;
        _targetRole = targetRole;
        _ranges = ranges;
        _rowBytes = rowBytes;
        _settings = settings;
        _array = array;
        _totalRows = ranges.Sum(r => r.Count);
        _nextRow = ranges.Count > 0 ? ranges[0].First : 0;
        _tokens = Capacity;
    }

    public static Props Props(SyncKind kind, int targetRole, IReadOnlyList<RowRange> ranges, long rowBytes, SyncSettings settings, IActorRef array) =>
        Akka.Actor.Props.Create(() => new SyncActor(kind, targetRole, ranges, rowBytes, settings, array));

    public ITimerScheduler Timers { get; set; } = null!;

    // Enough for a full window of rows, and for a tick's worth at the top speed.
    private double Capacity => Math.Max((double)_settings.RowsInFlight * _rowBytes, _settings.SpeedMaxBytes * 2 * kTickInterval.TotalSeconds);

    protected override void PreStart()
    {
        _samples.Enqueue((DateTime.UtcNow, 0));
        Timers.StartPeriodicTimer(nameof(Tick), Tick.Instance, kTickInterval);
        Dispatch();
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case RowSynced synced:
                _inFlight--;
                _doneRows++;
                _mismatches += synced.Mismatch ? 1 : 0;
                _userBusy = synced.UserBusy;
                Dispatch();
                break;
            case RowSyncFailed failed:
                _inFlight--;
                Finish($"row {failed.Row}: {failed.Reason}");
                break;
            case Tick:
                Refill();
                Dispatch();
                if (!_finished)
                    _array.Tell(new SyncProgress(Status()));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private bool HasNext => _rangeIndex < _ranges.Count;

    private void Dispatch()
    {
        if (_finished)
            return;
        while (HasNext && _inFlight < _settings.RowsInFlight && _tokens >= _rowBytes)
        {
            _tokens -= _rowBytes;
            _array.Tell(new SyncRow(_nextRow));
            _inFlight++;
            if (++_nextRow >= _ranges[_rangeIndex].End && ++_rangeIndex < _ranges.Count)
                _nextRow = _ranges[_rangeIndex].First;
        }
        if (!HasNext && _inFlight == 0)
            Finish(failure: null);
    }

    private void Refill()
    {
        var now = DateTime.UtcNow;
        var speed = _userBusy ? _settings.SpeedMinBytes : _settings.SpeedMaxBytes;
        _tokens = Math.Min(Capacity, _tokens + speed * (now - _lastRefill).TotalSeconds);
        _lastRefill = now;
        // Busy fades unless rows keep reporting requests.
        _userBusy = false;
    }

    private void Finish(string? failure)
    {
        if (_finished)
            return;
        _finished = true;
        Timers.CancelAll();
        _array.Tell(new SyncFinished(Status(), failure));
        Context.Stop(Self);
    }

    private SyncStatus Status()
    {
        var now = DateTime.UtcNow;
        _samples.Enqueue((now, _doneRows));
        while (_samples.Count > 2 && now - _samples.Peek().At > kRateWindow)
            _samples.Dequeue();
        var (since, rowsThen) = _samples.Peek();
        var seconds = (now - since).TotalSeconds;
        var rate = seconds > 0 ? (_doneRows - rowsThen) * (double)_rowBytes / seconds : 0;
        TimeSpan? eta = rate > 0 ? TimeSpan.FromSeconds((_totalRows - _doneRows) * (double)_rowBytes / rate) : null;
        return new SyncStatus(_kind, _targetRole, _doneRows, _totalRows, _rowBytes, rate, eta, _mismatches);
    }
}
