using Raid5Actors.Cli.Output;

namespace Raid5Actors.Cli.Control;

/// <summary>
/// An array as the management commands see it: the same operations whether this process opened the
/// array (<see cref="LocalArrayHandle"/>) or another process serves it (<see cref="RemoteArrayHandle"/>).
/// Failures come back as <see cref="Raid5Exception"/> with the engine's message.
/// </summary>
internal interface IArrayHandle : IAsyncDisposable
{
    /// <summary>True when another process holds the array and keeps running the work started here.</summary>
    bool IsRemote { get; }

    Task<StatusDocument> StatusAsync(CancellationToken cancellationToken);

    Task<string> FailAsync(int role, CancellationToken cancellationToken);

    Task<string> RemoveAsync(int role, CancellationToken cancellationToken);

    /// <summary>Adds a new blank device, or re-adds device <paramref name="device"/>; recovery starts if a role is missing.</summary>
    Task<string> AddAsync(int? device, CancellationToken cancellationToken);

    /// <summary>Starts a check (<paramref name="repair"/> false) or a repair.</summary>
    Task<string> StartCheckAsync(bool repair, CancellationToken cancellationToken);
}
