//! Lock guards that outlive a poisoned lock: the shared addresses and relay states are plain
//! data that a panic elsewhere cannot leave half-written, so their readers keep going.

use std::sync::RwLock;

/// Writes `lock`, poisoned or not.
pub(super) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Reads `lock`, poisoned or not.
pub(super) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}
