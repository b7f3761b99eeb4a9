using Raid5Actors.Cli.Output;
using Raid5Actors.Stripes;

namespace Raid5Actors.Cli.Control;

/// <summary>An array opened by this process: the commands call the engine directly.</summary>
internal sealed class LocalArrayHandle(Raid5Array array, string folder, ServedDocument? servedBy, bool ownsArray) : IArrayHandle
{
    public bool IsRemote => false;

    public async Task<StatusDocument> StatusAsync(CancellationToken cancellationToken) =>
        StatusDocument.From(folder, await array.GetStatusAsync(cancellationToken).ConfigureAwait(false), array.Metadata, servedBy);

    public async Task<string> FailAsync(int role, CancellationToken cancellationToken) =>
        (await array.FailMemberAsync(role).ConfigureAwait(false)).Outcome;

    public async Task<string> RemoveAsync(int role, CancellationToken cancellationToken) =>
        (await array.RemoveMemberAsync(role).ConfigureAwait(false)).Outcome;

    public async Task<string> AddAsync(int? device, CancellationToken cancellationToken) =>
        (await array.AddMemberAsync(device).ConfigureAwait(false)).Outcome;

    public async Task<string> StartCheckAsync(bool repair, CancellationToken cancellationToken)
    {
        var started = await array.StartSyncAsync(repair ? SyncKind.Repair : SyncKind.Check).ConfigureAwait(false);
        return $"{SyncDocument.KindName(started.Kind)} started over {started.TotalRows} rows";
    }

    public ValueTask DisposeAsync() => ownsArray ? array.DisposeAsync() : ValueTask.CompletedTask;
}
