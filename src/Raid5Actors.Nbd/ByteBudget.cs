using System.Diagnostics;

namespace Raid5Actors.Nbd;

/// <summary>
/// A count of bytes that may be held at once, handed out first come, first served: a caller that
/// does not fit waits, and nobody behind it overtakes it (so a large request is never starved by
/// small ones). Grants are at most <see cref="CapacityBytes"/>; every grant is given back once with
/// <see cref="Release"/>. The lock guards a few integer updates, never I/O.
/// </summary>
internal sealed class ByteBudget
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private long _availableBytes;

    public ByteBudget(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityBytes);
        CapacityBytes = capacityBytes;
        _availableBytes = capacityBytes;
    }

    public long CapacityBytes { get; }

    public long InUseBytes
    {
        get
        {
            lock (_gate)
                return CapacityBytes - _availableBytes;
        }
    }

    public ValueTask AcquireAsync(long bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, CapacityBytes);
        if (bytes == 0)
            return ValueTask.CompletedTask;
        Waiter waiter;
        lock (_gate)
        {
            if (_waiters.Count == 0 && _availableBytes >= bytes)
            {
                _availableBytes -= bytes;
                return ValueTask.CompletedTask;
            }
            cancellationToken.ThrowIfCancellationRequested();
            waiter = new Waiter(bytes);
            waiter.Node = _waiters.AddLast(waiter);
        }
        return WaitAsync(waiter, cancellationToken);
    }

    public void Release(long bytes)
    {
        if (bytes == 0)
            return;
        List<Waiter>? granted;
        lock (_gate)
        {
            _availableBytes += bytes;
            Debug.Assert(_availableBytes <= CapacityBytes, "more bytes released than acquired");
            granted = GrantLocked();
        }
        Complete(granted);
    }

    private async ValueTask WaitAsync(Waiter waiter, CancellationToken cancellationToken)
    {
        await using var registration = cancellationToken.Register(() => Cancel(waiter, cancellationToken));
        await waiter.Granted.Task.ConfigureAwait(false);
    }

    private void Cancel(Waiter waiter, CancellationToken cancellationToken)
    {
        List<Waiter>? granted;
        lock (_gate)
        {
            if (waiter.Node?.List is null)
                return; // already granted: the caller owns the bytes and gives them back
            _waiters.Remove(waiter.Node);
            // The head left: the next ones may fit now.
            granted = GrantLocked();
        }
        waiter.Granted.TrySetCanceled(cancellationToken);
        Complete(granted);
    }

    private List<Waiter>? GrantLocked()
    {
        List<Waiter>? granted = null;
        while (_waiters.First is { } first && first.Value.Bytes <= _availableBytes)
        {
            _availableBytes -= first.Value.Bytes;
            _waiters.RemoveFirst();
            (granted ??= []).Add(first.Value);
        }
        return granted;
    }

    // Outside the lock: continuations run asynchronously anyway, but nothing user-visible happens under it.
    private static void Complete(List<Waiter>? granted)
    {
        if (granted is null)
            return;
        foreach (var waiter in granted)
            waiter.Granted.TrySetResult();
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;

        public LinkedListNode<Waiter>? Node { get; set; }

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
