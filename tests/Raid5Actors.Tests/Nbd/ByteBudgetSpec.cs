using Raid5Actors.Nbd;

namespace Raid5Actors.Tests.Nbd;

/// <summary>The byte budget behind the server's bound on buffered payload: first come, first served, and nothing lost on cancel.</summary>
public sealed class ByteBudgetSpec
{
    [Fact]
    public async Task A_waiting_large_grant_is_not_overtaken_by_smaller_ones_that_would_fit()
    {
        var budget = new ByteBudget(100);
        await budget.AcquireAsync(60, CancellationToken.None);
        var large = budget.AcquireAsync(80, CancellationToken.None).AsTask();
        var small = budget.AcquireAsync(10, CancellationToken.None).AsTask();
        Assert.False(large.IsCompleted);
        Assert.False(small.IsCompleted, "a small grant overtook the large one waiting before it");

        budget.Release(60);
        await large.WaitAsync(TimeSpan.FromSeconds(5));
        await small.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(90, budget.InUseBytes);
        budget.Release(80);
        budget.Release(10);
        Assert.Equal(0, budget.InUseBytes);
    }

    [Fact]
    public async Task A_cancelled_wait_takes_nothing_and_lets_the_next_waiter_in()
    {
        var budget = new ByteBudget(100);
        await budget.AcquireAsync(50, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var blocked = budget.AcquireAsync(100, cancel.Token).AsTask();
        var behind = budget.AcquireAsync(50, CancellationToken.None).AsTask();
        Assert.False(behind.IsCompleted);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked);
        await behind.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(100, budget.InUseBytes);
    }

    [Fact]
    public void A_grant_larger_than_the_whole_budget_is_refused()
    {
        var budget = new ByteBudget(100);
        Assert.Throws<ArgumentOutOfRangeException>(() => budget.AcquireAsync(101, CancellationToken.None));
    }
}
